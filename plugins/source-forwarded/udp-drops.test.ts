import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseProcNetUdp, UdpDropCounter } from './udp-drops';

const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 3995: 00000000:DB05 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 28766 2 0000000039a6032f 0
16138: 0100007F:2372 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 27761 2 00000000e24c0c2a 1234
`;
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  512: 00000000000000000000000000000000:2372 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 31337 2 00000000deadbeef 7
`;

describe('kernel UDP drop counters (/proc/net/udp)', () => {
  it('parses the local port, inode and drops of IPv4 and IPv6 rows', () => {
    assert.deepEqual(parseProcNetUdp(UDP), [
      { localPort: 0xdb05, inode: 28766, drops: 0 },
      { localPort: 9074, inode: 27761, drops: 1234 },
    ]);
    assert.deepEqual(parseProcNetUdp(UDP6), [{ localPort: 9074, inode: 31337, drops: 7 }]);
    assert.deepEqual(parseProcNetUdp('header only\n\ngarbage line\n'), []);
  });

  it('follows the socket whose inode is one of ours, reporting increases (also across the 32-bit wrap)', async () => {
    // A fake /proc: net/udp, net/udp6, self/fd with one socket link.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-proc-'));
    try {
      fs.mkdirSync(path.join(root, 'net'));
      fs.mkdirSync(path.join(root, 'self', 'fd'), { recursive: true });
      fs.symlinkSync('socket:[31337]', path.join(root, 'self', 'fd', '7'));
      fs.symlinkSync('/dev/null', path.join(root, 'self', 'fd', '0'));
      const write = (drops6: number): void => {
        fs.writeFileSync(path.join(root, 'net', 'udp'), UDP);
        fs.writeFileSync(path.join(root, 'net', 'udp6'), UDP6.replace(/ 7\n$/, ` ${drops6}\n`));
      };
      write(7);
      const c = new UdpDropCounter(9074, root);
      assert.equal(c.inode, 31337, 'the IPv4 row on the same port belongs to another process');
      assert.equal(await c.take(), 0, 'drops before we started are not ours to report');
      write(19);
      assert.equal(await c.take(), 12);
      assert.equal(await c.take(), 0);
      write(-2147483648); // the kernel's int counter wrapped
      const before = 19;
      assert.equal(await c.take(), (-2147483648 - before) >>> 0);
      // No /proc at all: counts nothing, never throws.
      const none = new UdpDropCounter(9074, path.join(root, 'missing'));
      assert.equal(none.inode, undefined);
      assert.equal(await none.take(), 0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
