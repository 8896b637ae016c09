// node ring.js LIB BUFBYTES [TIMEOUT]: prints the sizes of the packet-socket ring mappings in /proc/self/maps.
const fs = require('node:fs');
const [lib, buf, to] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 0)];
let close;
if (lib === 'cap') { const { Cap } = require('cap'); const c = new Cap(); global.b = Buffer.alloc(65535); c.open('lo', 'udp port 9', buf, global.b); close = () => c.close(); }
else { const pcap = require('pcap'); const s = pcap.createSession('lo', { filter: 'udp port 9', buffer_size: buf, buffer_timeout: to }); close = () => process.exit(0); }
const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => /socket:|anon_inode|packet/.test(l) || /\s0\s*$/.test(l) && false);
const sock = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('socket:'));
console.log(lib, 'requested', buf, 'timeout', to, 'ring mappings (bytes):', sock.map((l) => { const [a, b] = l.split(' ')[0].split('-'); return parseInt(b, 16) - parseInt(a, 16); }));
close(); setTimeout(() => process.exit(0), 50);
