// node pcap-capture.js IFACE FILTER BUFBYTES : as cap-capture.js, with pcap_stats and timestamps vs the sender's.
const pcap = require('pcap');
const [iface, filter, bufBytes] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 64 << 20)];
let s;
try { s = pcap.createSession(iface, { filter, buffer_size: bufBytes, buffer_timeout: Number(process.env.TIMEOUT ?? 0), promiscuous: false }); } catch (e) { console.log(JSON.stringify({ error: e.message })); process.exit(3); }
let n = 0, bytes = 0; const seen = new Set(); let lagMax = -Infinity, lagMin = Infinity, lagSum = 0;
s.on('packet', (p) => {
  const caplen = p.header.readUInt32LE(8);
  n++; bytes += caplen; const data = Buffer.from(p.buf.subarray(0, caplen)); if (data.length !== caplen) throw new Error("copy");
  if (caplen >= 54) {
    seen.add(p.buf.readUInt32BE(42));
    const tsUs = p.header.readUInt32LE(0) * 1e6 + p.header.readUInt32LE(4);
    const sentUs = Number(p.buf.readBigUInt64BE(46) / 1000n);
    const lag = tsUs - sentUs; lagSum += lag; if (lag > lagMax) lagMax = lag; if (lag < lagMin) lagMin = lag;
  }
});
const cpu0 = process.cpuUsage();
process.stdout.write(JSON.stringify({ ready: true, linkType: s.link_type }) + '\n');
process.stdin.on('data', (d) => {
  if (!String(d).includes('stop')) return;
  const stats = s.stats();
  const t = Date.now();
  s.close();
  process.stdin.destroy();
  const cpu = process.cpuUsage(cpu0); console.log(JSON.stringify({ cpuUsPerPkt: +((cpu.user + cpu.system) / n).toFixed(2), captured: n, distinct: seen.size, bytes, linkType: s.link_type, stats, tsLagUs: { min: lagMin, avg: Math.round(lagSum / n), max: lagMax } }));
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
