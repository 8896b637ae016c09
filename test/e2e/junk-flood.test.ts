/**
 * A flood of junk (the hardening issue): 1,000,000 RTP-looking packets, each on a flow and SSRC of its own, and no
 * SIP. `record` with its default call workers must stay within 256 MiB of peak RSS (the whole process, threads
 * included), count every stream and every flow it forgot, and finish in seconds.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../corpus';
import { PcapWriter } from '../../core/net/pcap-writer';
import { udpFrames } from '../../plugins/source-generator/net-frames';
import { rtpPacket } from '../../core/testing/rtp';
import { mulberry32 } from '../../core/testing/prng';

const CLI = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');
const T0 = Date.UTC(2026, 0, 1) * 1000;
const PACKETS = 1_000_000;
const MiB = 1024 * 1024;

/** Ethernet (14) + IPv4 (20): where the addresses and the UDP header sit in a generated frame. */
const IP_AT = 14;
const UDP_AT = 14 + 20;
const RTP_AT = UDP_AT + 8;

/** One template frame, its addresses, ports and RTP header rewritten per packet (checksums are not checked). */
async function junkCapture(file: string): Promise<void> {
  const rnd = mulberry32(0x5eed);
  const template = udpFrames('10.0.0.1', 1000, '10.0.0.2', 2000, rtpPacket({ pt: 0, seq: 0, ts: 0, ssrc: 0, payload: Buffer.alloc(160, 0xff) }), 1)[0] as Buffer;
  const w = new PcapWriter(file);
  const f = Buffer.from(template);
  for (let i = 0; i < PACKETS; i++) {
    f.writeUInt32BE(((10 << 24) | (rnd() * 0x1000000)) >>> 0, IP_AT + 12);
    f.writeUInt32BE(((10 << 24) | (rnd() * 0x1000000)) >>> 0, IP_AT + 16);
    f.writeUInt16BE(1024 + Math.floor(rnd() * 60_000), UDP_AT);
    f.writeUInt16BE(1024 + Math.floor(rnd() * 60_000), UDP_AT + 2);
    f.writeUInt16BE(Math.floor(rnd() * 65536), RTP_AT + 2);
    f.writeUInt32BE(Math.floor(rnd() * 0x100000000), RTP_AT + 4);
    f.writeUInt32BE(Math.floor(rnd() * 0x100000000), RTP_AT + 8);
    w.write(T0 + i * 20, f);
  }
  await w.close();
}

describe('e2e: a flood of junk flows (1,000,000 packets)', function () {
  this.timeout(180_000);
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-junk-'));
    await junkCapture(path.join(dir, 'junk.pcap'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('record keeps its peak RSS within 256 MiB with its default workers, counts every stream and every eviction', () => {
    // The child reports its own peak RSS as it exits: VmHWM, its address space's high-water mark (worker threads
    // included). Not getrusage's maxRSS: Linux carries that over exec from the forked copy of this test process.
    const probe = path.join(dir, 'max-rss.js');
    fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write('MAXRSS ' + /VmHWM:\\s*(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1] + '\\n'));\n");
    const out = path.join(dir, 'out');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--require', probe, CLI, 'record', '--pcap', path.join(dir, 'junk.pcap'), '--out', out, '--no-progress'], { cwd: dir, encoding: 'utf8', timeout: 150_000 });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.status, 0, r.stderr);
    const maxRss = Number(/MAXRSS (\d+)/.exec(r.stderr)?.[1]) * 1024;
    const doc = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as {
      counters: Record<string, number>;
      unmatchedStreams: unknown[];
      notRecorded: { unmatchedStreams: number; unmatchedListed: number };
    };
    const c = doc.counters;
    process.stdout.write(
      `      junk flood: ${seconds.toFixed(1)} s, peak RSS ${(maxRss / MiB).toFixed(0)} MiB; streams ${c['core.media.unmatchedStreams']}, ` +
        `flows evicted ${c['core.media.flowsEvicted']}, report entries forgotten ${c['core.media.unmatchedDropped']}, listed ${doc.unmatchedStreams.length}\n`,
    );
    assert.ok(maxRss > 0 && maxRss <= 256 * MiB, `peak RSS ${(maxRss / MiB).toFixed(0)} MiB`);
    assert.equal(c['core.media.packets'], PACKETS);
    assert.equal(c['core.media.unmatched'], PACKETS);
    assert.equal(c['core.media.unmatchedStreams'], PACKETS, 'every junk stream counted once');
    assert.ok((c['core.media.flowsEvicted'] ?? 0) >= PACKETS - 65_536, `${c['core.media.flowsEvicted']} flows evicted`);
    assert.ok((c['core.media.unmatchedDropped'] ?? 0) >= PACKETS - 10_000, `${c['core.media.unmatchedDropped']} forgotten`);
    assert.ok(doc.unmatchedStreams.length > 0 && doc.unmatchedStreams.length <= 10_000);
    assert.equal(doc.notRecorded.unmatchedStreams, PACKETS);
    assert.equal(doc.notRecorded.unmatchedListed, doc.unmatchedStreams.length);
    assert.match(r.stdout, /not recorded: 1000000 RTP streams matched no call \(the newest \d+ listed in the summary file\)/);
  });
});
