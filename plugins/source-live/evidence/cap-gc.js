// node --expose-gc cap-gc.js hold|drop PORT: opens lo with a Buffer we keep (hold) or not (drop), churns the heap
// and forces GCs while packets arrive; prints how many packets were captured and whether their bytes were right.
const { Cap } = require('cap');
const [mode, port] = [process.argv[2], process.argv[3]];
const c = new Cap();
let held = null;
function open() {
  const b = Buffer.alloc(65535);
  if (mode === 'hold') held = b;
  return { lt: c.open('lo', `udp dst port ${port}`, 1 << 22, b), view: b };
}
const { view } = mode === 'hold' ? open() : { view: null, ...open() };
let n = 0, bad = 0;
c.on('packet', (nbytes) => {
  n++;
  const b = held; // only in hold mode can we read what cap wrote
  if (b !== null && b[nbytes - 1] !== 0xab) bad++;
});
let churn = [];
const t = setInterval(() => {
  for (let i = 0; i < 2000; i++) churn.push(Buffer.alloc(65535 + (i % 7)));
  churn = churn.slice(-500);
  global.gc();
}, 20);
process.stdout.write('ready\n');
setTimeout(() => { clearInterval(t); c.close(); console.log(JSON.stringify({ mode, captured: n, wrongBytes: bad })); }, 4000);
