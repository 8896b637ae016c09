/** `tapline sdp suppress`, run in-process, and once as a process reading stdin. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from './main';
import { isTaplineError } from '../errors';
import { parseSdp } from '../sdp/index';
import { findSdpBody, parseSipMessage } from '../sip/index';
import { lyncOfferBody, lyncSingleSdp, type LyncSdpParams } from '../../plugins/source-generator/sdp-builder';
import { request } from '../../test/sip-text';
import { repoRoot } from '../../test/corpus';

interface Run {
  code: number;
  out: Buffer;
  err: string;
}

/** main()'s exit-code mapping, with exitOverride on every subcommand so --help or a bad option cannot exit mocha. */
async function tapline(...args: string[]): Promise<Run> {
  const program = buildProgram();
  const override = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({ writeErr: (s) => process.stderr.write(s) });
    c.commands.forEach(override);
  };
  override(program);
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  const out: Buffer[] = [];
  let err = '';
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    out.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    err += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  let code = 0;
  try {
    await program.parseAsync(['node', 'tapline', ...args]);
  } catch (e) {
    const c = e as { code?: string; exitCode?: number };
    if (typeof c.code === 'string' && c.code.startsWith('commander.')) code = c.code === 'commander.helpDisplayed' ? 0 : (c.exitCode ?? 2);
    else if (isTaplineError(e)) {
      err += `tapline: ${e.code}: ${e.message}\n`;
      code = 1;
    } else throw e;
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
  return { code, out: Buffer.concat(out), err };
}

const LYNC: LyncSdpParams = {
  user: '-', sessionId: 7, version: 1, ip: '10.1.0.5', port: 20000, codec: 'PCMU', payloadType: 0, ptimeMs: 20, direction: 'sendrecv',
  ssrc: 99, ufrag: 'abcd', pwd: 'p'.repeat(24), cryptoKey: 'k'.repeat(40), srflx: { ip: '203.0.113.7', port: 40000 },
  relay: { ip: '198.51.100.9', port: 50000 }, ipv6: 'fd00::1', v6User: 'U', v6Pwd: 'P', offer: true,
};

describe('tapline sdp suppress', () => {
  let dir = '';
  let invite = '';
  let bare = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-sdp-cli-'));
    const body = lyncOfferBody(LYNC, 'b1');
    invite = path.join(dir, 'invite.txt');
    fs.writeFileSync(invite, request('INVITE', { body: body.body, contentType: body.contentType }));
    bare = path.join(dir, 'offer.sdp');
    fs.writeFileSync(bare, lyncSingleSdp(LYNC));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('removes x-msrta by default from both parts of a multipart INVITE, with a correct Content-Length', async () => {
    const r = await tapline('sdp', 'suppress', invite);
    assert.equal(r.code, 0, r.err);
    const msg = parseSipMessage(r.out);
    assert.equal(msg.body.length, Number(msg.headers.get('Content-Length')));
    const sdp = parseSdp(findSdpBody(msg) ?? Buffer.alloc(0));
    assert.deepEqual(sdp.media[0]?.formats, ['117', '104', '9', '112', '111', '0', '8', '103', '116', '97', '13', '118', '119', '101']);
    assert.equal(r.err.split('\n').filter((l) => /removed payload type 11[45] \(x-msrta\/\d+\)/.test(l)).length, 4);
    assert.match(r.err, /SDP 2: media 0: removed payload type 114 \(x-msrta\/16000\)/);
  });

  it('takes --codec and --pt (repeatable) and a bare SDP; --quiet says nothing', async () => {
    const r = await tapline('sdp', 'suppress', '--codec', 'SILK', '--pt', '116', '--pt', '111', '--quiet', bare);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    const text = r.out.toString('latin1');
    assert.ok(text.startsWith('v=0\r\n'));
    const m = parseSdp(text).media[0];
    assert.deepEqual(m?.formats, ['117', '114', '9', '112', '0', '8', '115', '97', '13', '118', '119', '101']);
    // Everything but the m= line and the removed formats' lines is the input, in order.
    const kept = lyncSingleSdp(LYNC)
      .split('\r\n')
      .filter((l) => !/^a=(rtpmap|fmtp):(104|103|116|111) /.test(l) && !l.startsWith('m='));
    assert.deepEqual(text.split('\r\n').filter((l) => !l.startsWith('m=')), kept);
  });

  it('reports a section it leaves alone, and rejects bad arguments and unreadable input', async () => {
    const answer = path.join(dir, 'answer.sdp');
    fs.writeFileSync(answer, 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 115 101\r\na=rtpmap:115 x-msrta/8000\r\na=rtpmap:101 telephone-event/8000\r\n');
    const r = await tapline('sdp', 'suppress', answer);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.equals(fs.readFileSync(answer)));
    assert.match(r.err, /media 0: left unchanged: removing payload type\(s\) 115 would leave it no audio codec/);
    const badPt = await tapline('sdp', 'suppress', '--pt', '200', bare);
    assert.equal(badPt.code, 1);
    assert.match(badPt.err, /--pt <n>' argument '200' is invalid\. expected a payload type 0-127/);
    assert.equal(badPt.out.length, 0);
    assert.match((await tapline('sdp', 'suppress', '--codec', 'x msrta', bare)).err, /expected an encoding name/);
    const missing = await tapline('sdp', 'suppress', path.join(dir, 'nope.txt'));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /TAPLINE_ERR_USAGE: cannot read .*nope\.txt/);
    const garbage = path.join(dir, 'garbage.txt');
    fs.writeFileSync(garbage, 'hello\r\n\r\n');
    assert.match((await tapline('sdp', 'suppress', garbage)).err, /TAPLINE_ERR_SIP_PARSE/);
  });

  it('reads stdin when the file is "-" (as a process)', function () {
    this.timeout(30_000);
    // The sources under tsx, or the built command when this test runs from dist/.
    const ts = path.join(__dirname, 'main.ts');
    const args = fs.existsSync(ts) ? ['--import', 'tsx', ts] : [path.join(__dirname, 'main.js')];
    const r = spawnSync(process.execPath, [...args, 'sdp', 'suppress', '--pt', '0', '-'], { input: fs.readFileSync(bare), cwd: repoRoot });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(parseSdp(r.stdout).media[0]?.formats.includes('0'), false);
    assert.match(r.stderr.toString(), /media 0: removed payload type 0 \(PCMU\/8000\)/);
  });
});
