/**
 * Encryption at rest: a capture recorded with a master key leaves no file holding a readable RIFF header; each
 * recording exported (decrypted) is byte-identical to the same call recorded in the clear; after a key rotation
 * old recordings still open, and `keys rewrap` moves them to the new key; a flipped byte is found by `verify` and
 * refused by the decryption; a writer killed mid-recording leaves whole chunks that still open.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Catalogue } from './catalogue';
import { CHUNK, decryptToWav, EncryptedAudioWriter, readEncInfo, repairEncrypted } from './encrypted-audio';
import { keyId, StaticKeyProvider } from './key-provider';
import { LocalStore } from './store';
import { begin, metadataFor, start, tapline, tmpDir } from './test-fixtures';



function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('storage-local: audio encrypted at rest', function () {
  this.timeout(120_000);
  let dir: string;
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const config = (name: string, encryption: Record<string, unknown>): string => {
    const f = path.join(dir, `${name}.json`);
    fs.writeFileSync(f, JSON.stringify({ plugins: [{ use: 'codec-g711' }, { use: 'storage-local', options: { dir: 'enc', encryption } }] }));
    return f;
  };
  const listed = (root: string): Array<{ id: string; callId: string; audio: string }> => {
    const cat = Catalogue.open(path.join(root, 'catalogue.sqlite'), { readonly: true });
    try {
      return cat.list({}).map((e) => ({ id: e.id, callId: e.callId, audio: e.audio as string }));
    } finally {
      cat.close();
    }
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-enc-'));
    fs.writeFileSync(path.join(dir, 'k1.key'), k1.toString('hex') + '\n', { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'k2.key'), k2.toString('base64') + '\n', { mode: 0o600 });
    const g = tapline(['generate', '--out', path.join(dir, 'calls.pcap'), '--calls', '3', '--duration', '6', '--seed', '11'], dir);
    assert.equal(g.code, 0, g.err);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('records with no readable WAV anywhere; exported, each is byte-identical to the same call recorded in the clear', () => {
    const plain = tapline(['record', '--pcap', 'calls.pcap', '--out', 'plain', '--no-progress'], dir);
    assert.equal(plain.code, 0, plain.err);
    const enc = tapline(['record', '--pcap', 'calls.pcap', '--no-progress', '-c', config('k1', { keyFile: 'k1.key' })], dir);
    assert.equal(enc.code, 0, enc.err);
    const root = path.join(dir, 'enc');
    for (const f of filesUnder(root)) {
      const b = fs.readFileSync(f);
      assert.notEqual(b.subarray(0, 4).toString('latin1'), 'RIFF', f);
      assert.equal(b.includes(Buffer.from('WAVEfmt ')), false, `${f} holds a WAV header`);
    }
    const clear = new Map(listed(path.join(dir, 'plain')).map((e) => [e.callId, e.audio]));
    const recs = listed(root);
    assert.equal(recs.length, 3);
    for (const r of recs) {
      assert.ok(r.audio.endsWith('audio.wav.enc'), r.audio);
      const out = path.join(dir, `${r.id}.wav`);
      const x = tapline(['recordings', 'export', r.id.slice(0, 8), '--out', out, '-c', config('k1', { keyFile: 'k1.key' })], dir);
      assert.equal(x.code, 0, x.err);
      assert.match(x.out, /decrypted \(2 channels, 8000 Hz, \d\.\d{3} s\)/);
      assert.deepEqual(fs.readFileSync(out), fs.readFileSync(clear.get(r.callId) as string), `${r.callId}: the same samples`);
    }
    const meta = JSON.parse(fs.readFileSync(path.join(path.dirname(recs[0]!.audio), 'metadata.json'), 'utf8')) as { audio: { format: string } };
    assert.equal(meta.audio.format, 'wav+aes-256-gcm');
    assert.equal(tapline(['verify', '--dir', root], dir).code, 0);
  });

  it('after a rotation old recordings still open; keys rewrap moves them to the new key; without the old key they do not open', () => {
    const root = path.join(dir, 'enc');
    const rec = listed(root)[0]!;
    const rotated = config('rotated', { keyFile: 'k2.key', previousKeyFiles: ['k1.key'] });
    assert.equal(tapline(['recordings', 'export', rec.id, '--out', path.join(dir, 'r.wav'), '-c', rotated], dir).code, 0);
    const onlyNew = config('only-new', { keyFile: 'k2.key' });
    const refused = tapline(['recordings', 'export', rec.id, '--out', path.join(dir, 'r.wav'), '-c', onlyNew], dir);
    assert.equal(refused.code, 1);
    assert.match(refused.err, new RegExp(`wrapped by master key ${keyId(k1)}, which is not configured`));
    assert.ok(fs.statSync(path.join(dir, 'r.wav')).size > 44, 'a refused export leaves the earlier file as it was');
    const before = fs.readFileSync(rec.audio);
    const rw = tapline(['keys', 'rewrap', '-c', rotated], dir);
    assert.equal(rw.code, 0, rw.err);
    assert.match(rw.out, new RegExp(`3 recordings re-wrapped with master key ${keyId(k2)}, 0 already were, 0 failed`));
    assert.match(tapline(['keys', 'rewrap', '-c', rotated], dir).out, /0 recordings re-wrapped .*, 3 already were/);
    // The audio chunks are the same bytes: only the header changed.
    const after = fs.readFileSync(rec.audio);
    assert.deepEqual(after.subarray(after.length - 1000), before.subarray(before.length - 1000));
    const again = tapline(['recordings', 'export', rec.id, '--out', path.join(dir, 'r2.wav'), '-c', onlyNew], dir);
    assert.equal(again.code, 0, again.err);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'r2.wav')), fs.readFileSync(path.join(dir, 'r.wav')));
    // The key also comes from an environment variable.
    const viaEnv = tapline(['recordings', 'export', rec.id, '--out', path.join(dir, 'r3.wav'), '-c', config('env', { keyEnv: 'TAPLINE_TEST_MASTER_KEY' })], dir, { TAPLINE_TEST_MASTER_KEY: k2.toString('hex') });
    assert.equal(viaEnv.code, 0, viaEnv.err);
  });

  it('a flipped byte: verify names the file, and decryption refuses the chunk', () => {
    const root = path.join(dir, 'enc');
    const rec = listed(root)[1]!;
    const fd = fs.openSync(rec.audio, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 5000);
    b[0] = b[0]! ^ 0x10;
    fs.writeSync(fd, b, 0, 1, 5000);
    fs.closeSync(fd);
    const v = tapline(['verify', '--dir', root], dir);
    assert.equal(v.code, 1);
    assert.match(v.out, new RegExp(`${rec.id}: audio\\.wav\\.enc was altered`));
    const x = tapline(['recordings', 'export', rec.id, '--out', path.join(dir, 'bad.wav'), '-c', config('only-new', { keyFile: 'k2.key' })], dir);
    assert.equal(x.code, 1);
    assert.match(x.err, /chunk 0 of \d+ fails authentication/);
  });

  it('a writer killed mid-recording: the torn chunk is cut off, the whole chunks open, the file says it ends early', async () => {
    const keys = new StaticKeyProvider(k1);
    const file = path.join(dir, 'killed.wav.enc');
    const w = await EncryptedAudioWriter.create(file, { sampleRate: 8000, channels: 1 }, keys);
    const pcm = new Int16Array((CHUNK * 2.5) / 2).map((_, i) => (i * 7) % 3000);
    await w.write(0, pcm);
    // Killed: the open chunk never sealed; a torn write leaves a few bytes of the next.
    fs.appendFileSync(file, Buffer.alloc(7, 0xaa));
    const fd = fs.openSync(file, 'r');
    const info = readEncInfo(fd, file);
    fs.closeSync(fd);
    assert.equal(info.chunks, 2);
    assert.equal(info.tail, 7);
    const r = repairEncrypted(file);
    assert.deepEqual(r, { repaired: true, frames: CHUNK, sampleRate: 8000, channels: 1 });
    const out = path.join(dir, 'killed.wav');
    const d = decryptToWav(file, out, keys);
    assert.equal(d.complete, false);
    assert.equal(d.bytes, 2 * CHUNK);
    assert.deepEqual(new Int16Array(fs.readFileSync(out).buffer.slice(44)), pcm.subarray(0, CHUNK));
  });

  it('a missing or malformed master key stops start-up with the reason', () => {
    fs.writeFileSync(path.join(dir, 'short.key'), 'abcd');
    for (const [enc, why] of [
      [{ keyFile: 'nope.key' }, /nope\.key/],
      [{ keyFile: 'short.key' }, /a master key is 32 bytes/],
      [{ keyEnv: 'TAPLINE_UNSET_KEY_VAR' }, /TAPLINE_UNSET_KEY_VAR is not set/],
    ] as const) {
      const r = tapline(['record', '--pcap', 'calls.pcap', '--out', 'never', '--no-progress', '-c', config('bad', enc)], dir);
      assert.notEqual(r.code, 0);
      assert.match(r.err, why);
    }
    assert.equal(fs.existsSync(path.join(dir, 'never')) && listed(path.join(dir, 'never')).length > 0, false);
  });
});

describe('storage-local: recovery of an encrypted recording', () => {
  it('a store dropped mid-recording: the next one recovers it with the whole chunks, still encrypted, and it opens', async () => {
    const root = tmpDir('enc-recover');
    try {
      const keyFile = path.join(root, 'master.key');
      const key = randomBytes(32);
      fs.writeFileSync(keyFile, key.toString('hex'));
      const opts = { root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' as const, encryption: { key: { file: keyFile } } };
      const a = new LocalStore(opts);
      const info = start();
      const files = await begin(a, info);
      await a.update(metadataFor(info, undefined));
      await a.openAudio(info.id, { sampleRate: 8000, channels: 2 });
      // 2.5 chunks of stereo audio: two sealed, half of one still in memory when "killed".
      const pcm = new Int16Array((CHUNK * 5) / 4).map((_, i) => (i * 13) % 5000);
      await a.writeAudio(info.id, 0, pcm);
      a.closeCatalogue();
      const b = new LocalStore(opts);
      assert.deepEqual(await b.recover(), [info.id]);
      const got = b.get(info.id);
      assert.equal(got?.entry.status, 'recovered');
      assert.equal(got?.metadata.audio?.format, 'wav+aes-256-gcm');
      assert.equal(got?.metadata.audio?.durationSec, Math.round(((2 * CHUNK) / 4 / 8000) * 1000) / 1000);
      const out = path.join(root, 'out.wav');
      const d = decryptToWav(files.audio, out, new StaticKeyProvider(key));
      assert.equal(d.complete, false);
      assert.deepEqual(new Int16Array(fs.readFileSync(out).buffer.slice(44)), pcm.subarray(0, CHUNK));
      b.closeCatalogue();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
