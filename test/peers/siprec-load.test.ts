/**
 * 100 SIPREC recording sessions at once: SIPp opens them all within two seconds (each with two labelled streams and
 * metadata), the media engine sends both participants' speech to the ports of each answer for 8 s, SIPp ends them
 * with BYE. Every session must be recorded whole: both channels with every packet sent and none lost, and serve
 * must count no drop. `npm run bench siprec` runs the same with its CPU per session.
 *
 * Needs the built CLI, sipp, bash and sox; skipped visibly otherwise.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onPath, sleep } from './proc';
import { freePortBlock } from './ports';
import { CLI, freeUdpPort, freeTcpPort, startServe } from '../serve-process';
import { makeVoices } from '../voices';
import { checkLoadRecordings, loadScenario, MediaEngine, pcmuFrames, runSippLoad } from './siprec-load';

const missing = ['sipp', 'sox', 'bash'].filter((c) => !onPath(c));
const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? (missing.length > 0 ? `not installed: ${missing.join(', ')}` : undefined);
if (unavailable !== undefined) console.warn(`\n  [tapline] SIPREC load test skipped: ${unavailable}\n`);
const describePeers = unavailable === undefined ? describe : describe.skip;

const SESSIONS = 100;
const FRAMES = 400; // 8 s of 20 ms frames

describePeers(`SIPREC: 100 recording sessions at once from SIPp${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(180_000);
  let root: string;
  before(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-siprec-load-'))));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('every session is recorded whole (both channels, every packet, none lost) and serve drops nothing', async () => {
    const voices = makeVoices(root);
    const engine = new MediaEngine(pcmuFrames(voices.caller, FRAMES), pcmuFrames(voices.callee, FRAMES));
    const control = await engine.start();
    const sipPort = await freeUdpPort();
    const rtp = await freePortBlock(4 * SESSIONS + 20);
    const ops = await freeTcpPort();
    const recordings = path.join(root, 'recordings');
    const serve = await startServe(
      root,
      {
        plugins: [
          { use: 'source-siprec', options: { host: '127.0.0.1', mediaAddress: '127.0.0.1', udp: { port: sipPort }, tcp: { enabled: false }, rtpPorts: { min: rtp, max: rtp + 4 * SESSIONS + 19 }, maxSessions: SESSIONS } },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: recordings } },
        ],
      },
      ops,
    );
    try {
      const r = await runSippLoad(root, loadScenario(control, FRAMES * 20 + 600), `127.0.0.1:${sipPort}`, SESSIONS, 50);
      assert.equal(r.code, 0, `sipp: ${r.log}`);
      assert.equal(engine.sessions, SESSIONS, 'every session was answered and told its ports');
      let check = checkLoadRecordings(recordings, SESSIONS, FRAMES);
      for (let i = 0; i < 100 && check.complete < SESSIONS; i++) {
        await sleep(100);
        check = checkLoadRecordings(recordings, SESSIONS, FRAMES);
      }
      const drops = await serve.metricSum('tapline_drops_total');
      process.stdout.write(`      ${SESSIONS} sessions: ${check.complete} recordings complete, ${check.whole} whole, ${check.lost} packets lost; ${engine.sent} RTP packets sent; serve drops ${drops}\n`);
      assert.equal(check.complete, SESSIONS, check.problems.join('; '));
      assert.equal(check.whole, SESSIONS, check.problems.join('; '));
      assert.equal(check.lost, 0);
      assert.equal(drops, 0);
    } finally {
      engine.stop();
      await serve.stop();
    }
  });
});
