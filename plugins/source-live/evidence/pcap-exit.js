// node pcap-exit.js plain|redispatch: opens lo, closes after 300 ms with no traffic; does the process exit?
const pcap = require('pcap');
const s = pcap.createSession('lo', { filter: 'udp dst port 9', buffer_timeout: 10 });
const t0 = Date.now();
setTimeout(() => {
  s.close();
  if (process.argv[2] === 'redispatch') console.log('dispatch after close ->', s.session.dispatch(s.buf, s.header));
}, 300);
process.on('exit', () => console.log(process.argv[2], 'exited', Date.now() - t0, 'ms after start'));
