// node tap-capture.js IFACE FILTER BUFBYTES : as pcap-capture.js, on Tapline's own addon (native/pcap).
const addon = require(require('node:path').join(process.env.TAPLINE_ROOT ?? require('node:path').join(__dirname, '..', '..', '..'), 'native', 'pcap', 'build', 'Release', 'pcap_native.node'));
const [iface, filter, bufBytes] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 64 << 20)];
const batch = Buffer.alloc(1 << 20);
let n = 0, bytes = 0, batches = 0; const seen = new Set(); let lagMax = -Infinity, lagMin = Infinity, lagSum = 0;
let h;
function onBatch(count, used, err) {
  if (err) { console.error('capture error', err); return; }
  batches++;
  let off = 0;
  for (let i = 0; i < count; i++) {
    const caplen = batch.readUInt32LE(off), sec = batch.readUInt32LE(off + 8) + batch.readUInt32LE(off + 12) * 2 ** 32, nsec = batch.readUInt32LE(off + 16);
    const data = Buffer.allocUnsafe(caplen); batch.copy(data, 0, off + 20, off + 20 + caplen);
    off += 20 + caplen; n++; bytes += caplen;
    if (caplen >= 54) {
      seen.add(data.readUInt32BE(42));
      const tsUs = sec * 1e6 + nsec / 1000;
      const sentUs = Number(data.readBigUInt64BE(46) / 1000n);
      const lag = tsUs - sentUs; lagSum += lag; if (lag > lagMax) lagMax = lag; if (lag < lagMin) lagMin = lag;
    }
  }
}
try { h = addon.open(iface, { bufferBytes: bufBytes, timeoutMs: Number(process.env.TIMEOUT ?? 10), snaplen: 65535 }, filter, batch, onBatch); } catch (e) { console.log(JSON.stringify({ error: e.message, code: e.code })); process.exit(3); }
const cpu0 = process.cpuUsage();
process.stdout.write(JSON.stringify({ ready: true, linkType: addon.linkType(h), nano: addon.tstampNano(h) }) + '\n');
process.stdin.on('data', (d) => {
  if (!String(d).includes('stop')) return;
  const [recv, drop, ifdrop] = addon.stats(h);
  const t = Date.now();
  addon.close(h);
  process.stdin.destroy();
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ cpuUsPerPkt: +((cpu.user + cpu.system) / n).toFixed(2), captured: n, distinct: seen.size, bytes, batches, linkType: addon.linkType ? 1 : 0, stats: { recv, drop, ifdrop }, tsLagUs: { min: lagMin, avg: Math.round(lagSum / n), max: lagMax } }));
  process.on('exit', () => process.stderr.write(`exit ${Date.now() - t} ms after close\n`));
});
// BLOCK_MS: keep the event loop busy that long after 'ready' (the sender fills the ring), then time the drain.
if (process.env.BLOCK_MS) {
  setTimeout(() => {
    const end = Date.now() + Number(process.env.BLOCK_MS); while (Date.now() < end);
    const n0 = n, t0 = process.hrtime.bigint(); let last = t0, nLast = n0;
    const iv = setInterval(() => { if (n !== nLast) { nLast = n; last = process.hrtime.bigint(); } }, 1);
    setTimeout(() => { clearInterval(iv); process.stderr.write(`drained ${nLast - n0} packets in ${Number(last - t0) / 1e6} ms = ${Math.round((nLast - n0) / (Number(last - t0) / 1e9))} pps\n`); }, 2500);
  }, 20);
}
