// Like cap-gc.js 'drop': the batch Buffer is not kept by JavaScript; the addon's reference must keep it alive.
const a = require(require('node:path').join(process.env.TAPLINE_ROOT ?? require('node:path').join(__dirname, '..', '..', '..'), 'native', 'pcap', 'build', 'Release', 'pcap_native.node'));
const port = process.argv[2];
let n = 0, bad = 0;
let h = a.open('lo', { bufferBytes: 4 << 20 }, `udp dst port ${port}`, Buffer.alloc(1 << 17), (count) => { n += count; });
let churn = [];
const t = setInterval(() => { for (let i = 0; i < 2000; i++) churn.push(Buffer.alloc(65535 + (i % 7))); churn = churn.slice(-500); global.gc(); }, 20);
process.stdout.write('ready\n');
setTimeout(() => { clearInterval(t); const st = a.stats(h); a.close(h); h = null; global.gc(); console.log(JSON.stringify({ captured: n, stats: st })); }, 4000);
