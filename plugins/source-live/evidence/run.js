// node run.js LIB PPS COUNT [BUFBYTES] [IDLE_MS]: starts the capture child, then the C sender, then stops the capture.
const { spawn, execFileSync } = require('node:child_process');
const [lib, pps, count, buf = String(64 << 20)] = process.argv.slice(2);
const port = 40000 + Math.floor(Math.random() * 2000);
const child = spawn(process.execPath, [`${lib}-capture.js`, 'lo', `udp dst port ${port}`, buf], { stdio: ['pipe', 'pipe', 'pipe'] });
let out = '', err = '';
child.stderr.on('data', (d) => (err += d));
const started = Date.now();
child.stdout.on('data', (d) => {
  out += d;
  if (out.includes('"ready"') && !child.sent) {
    child.sent = true;
    const snd = JSON.parse(execFileSync('./udpblast', [String(port), pps, count]).toString());
    setTimeout(() => child.stdin.write('stop\n'), Number(process.env.STOP_AFTER ?? 1000));
    child.snd = snd;
  }
});
const exitTimer = setTimeout(() => { console.log(JSON.stringify({ lib, pps: +pps, note: 'capture process did not exit within 5 s after close', out: out.trim().split('\n').pop(), err: err.trim() })); child.kill('SIGKILL'); }, 5000 + Number(count) / 20);
child.on('exit', (code, sig) => {
  clearTimeout(exitTimer);
  const last = out.trim().split('\n').pop();
  console.log(JSON.stringify({ lib, target: +pps, sender: child.snd, result: JSON.parse(last), exit: code ?? sig, stderr: err.trim() }));
});
