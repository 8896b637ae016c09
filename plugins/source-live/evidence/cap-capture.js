// node cap-capture.js IFACE FILTER BUFBYTES : counts packets; on stdin "stop\n" prints JSON, closes, and should exit.
const { Cap } = require('cap');
const [iface, filter, bufBytes] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 64 << 20)];
const c = new Cap();
const buffer = Buffer.alloc(65535);
let n = 0, bytes = 0; const seen = new Set(); let maxSeq = -1;
let linkType;
try { linkType = c.open(iface, filter, bufBytes, buffer); } catch (e) { console.log(JSON.stringify({ error: e.message })); process.exit(3); }
c.setMinBytes && c.setMinBytes(0);
c.on('packet', (nbytes) => {
  n++; bytes += nbytes; const data = Buffer.from(buffer.subarray(0, nbytes)); if (data.length !== nbytes) throw new Error("copy");
  // lo: 14 Ethernet + 20 IP + 8 UDP, then the sender's u32 seq
  if (nbytes >= 46) { const s = buffer.readUInt32BE(42); seen.add(s); if (s > maxSeq) maxSeq = s; }
});
const cpu0 = process.cpuUsage();
process.stdout.write(JSON.stringify({ ready: true, linkType }) + '\n');
process.stdin.on('data', (d) => {
  if (!String(d).includes('stop')) return;
  const t = Date.now();
  c.close();
  process.stdin.destroy();
  const cpu = process.cpuUsage(cpu0); console.log(JSON.stringify({ cpuUsPerPkt: +((cpu.user + cpu.system) / n).toFixed(2), captured: n, distinct: seen.size, bytes, linkType, stats: 'none (cap has no pcap_stats)' }));
  process.on('exit', () => process.stderr.write(`exit ${Date.now() - t} ms after close\n`));
});
