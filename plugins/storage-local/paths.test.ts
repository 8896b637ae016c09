import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertInside, recordingDir, safeName, SAFE_NAME_MAX_BYTES } from './paths';
import { LocalStore } from './store';
import { start, tmpDir, begin } from './test-fixtures';

/** What every produced name must satisfy, whatever went in. */
function assertSafe(name: string): void {
  assert.ok(name.length > 0, 'empty name');
  assert.ok(Buffer.byteLength(name) <= SAFE_NAME_MAX_BYTES, `too long: ${Buffer.byteLength(name)} bytes`);
  assert.doesNotMatch(name, /[/\\:\u0000-\u001f\u007f-\u009f]/u, `unsafe character in ${JSON.stringify(name)}`);
  assert.ok(!name.startsWith('.'), `leading dot in ${name}`);
  assert.ok(!name.endsWith('.'), `trailing dot in ${name}`);
  assert.equal(name, name.normalize('NFC'));
  assert.match(name, /^[\p{L}\p{M}\p{Nd}\-_.@+%]+$/u);
  assert.doesNotMatch(name, /^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i);
}

const HOSTILE: Record<string, string> = {
  traversal: '../../etc/passwd',
  'windows traversal': '..\\..\\Windows\\System32',
  'drive letter': 'C:\\boot.ini',
  dots: '..',
  dot: '.',
  nul: 'a\u0000b',
  crlf: '\r\nX-Injected: 1',
  'device name': 'CON',
  'device name with extension': 'nul.txt',
  'com port': 'COM1',
  'very long': 'x'.repeat(5000) + '@host',
  'long multibyte': 'ж'.repeat(500),
  emoji: '📞☎️😀@example.com',
  rtl: 'שלום\u202Egnp.exe',
  arabic: 'مكالمة-١٢٣@example',
  'combining (NFD)': 'Jose\u0301',
  'lone surrogate': 'a\uD800b',
  'percent': '%2e%2e%2f',
  'hidden file': '.bashrc',
  spaces: '   ',
  empty: '',
  'ansi escape': '\u001b[31mred',
};

describe('storage-local: safe names', () => {
  for (const [label, input] of Object.entries(HOSTILE)) {
    it(`makes a safe name from ${label}`, () => assertSafe(safeName(input)));
  }

  it('keeps ordinary Call-IDs readable and encodes the rest one-to-one', async () => {
    assert.equal(safeName('a84b4c76e66710@pc33.atlanta.com'), 'a84b4c76e66710@pc33.atlanta.com');
    assert.equal(safeName('3848276298220188511@atlanta.example.com+1'), '3848276298220188511@atlanta.example.com+1');
    assert.equal(safeName('../../etc/passwd'), '%2E%2E%2F..%2Fetc%2Fpasswd');
    assert.equal(safeName('a\u0000b'), 'a%00b');
    assert.equal(safeName('\r\nX'), '%0D%0AX');
    assert.equal(safeName('CON'), '_CON');
    assert.equal(safeName('a b'), 'a%20b');
    assert.equal(safeName('%'), '%25'); // '%' itself is encoded, so decoding is unambiguous
    assert.equal(safeName('😀'), '%F0%9F%98%80');
    assert.equal(safeName('Jose\u0301'), 'José'); // NFC: one code point
    assert.equal(safeName('שלום\u202Eabc'), 'שלום%E2%80%AEabc'); // letters kept, the bidi override encoded
    assert.equal(safeName(''), '_');
  });

  it('bounds length in bytes without splitting an escape or a character', async () => {
    const long = safeName('😀'.repeat(100));
    assert.ok(Buffer.byteLength(long) <= SAFE_NAME_MAX_BYTES);
    assert.match(long, /^(%[0-9A-F]{2})+$/);
    assert.equal(long.length % 12, 0);
    assert.equal(safeName('ж'.repeat(100)), 'ж'.repeat(40));
  });

  it('recordingDir stays inside the root in both layouts', async () => {
    const root = path.resolve('/tmp/rec-root');
    for (const input of Object.values(HOSTILE)) {
      for (const layout of ['date', 'flat'] as const) {
        const dir = recordingDir(root, layout, Date.UTC(2026, 2, 4, 10, 20, 30) * 1000, input, 'id-1');
        assertInside(root, dir);
        const rel = path.relative(root, dir).split(path.sep);
        assert.equal(rel.length, layout === 'date' ? 4 : 1);
        if (layout === 'date') assert.deepEqual(rel.slice(0, 3), ['2026', '03', '04']);
        assert.ok(rel[rel.length - 1]?.startsWith(layout === 'date' ? '102030_' : '20260304T102030_'));
        assert.ok(rel[rel.length - 1]?.endsWith('_id-1'));
      }
    }
    assert.throws(() => assertInside(root, path.join(root, '..', 'x')), /outside/);
    assert.throws(() => assertInside(root, root), /outside/);
  });

  it('hostile Call-IDs become real folders inside the root, never colliding, Call-ID kept verbatim in the catalogue', async () => {
    const root = tmpDir('names');
    const store = new LocalStore({ root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' });
    try {
      const dirs = new Set<string>();
      for (const callId of [...Object.values(HOSTILE), ...Object.values(HOSTILE)]) {
        const info = start({ callId });
        const files = (await begin(store, info));
        assertInside(root, files.dir);
        assert.ok(fs.statSync(files.dir).isDirectory());
        assert.equal(path.dirname(files.audio), files.dir);
        assert.equal(path.dirname(files.metadata), files.dir);
        assert.ok(!dirs.has(files.dir), `collision on ${files.dir}`);
        dirs.add(files.dir);
        // Verbatim, except that UTF-8 (SQLite's text) cannot hold a lone surrogate: U+FFFD, as Buffer does.
        const utf8 = Buffer.from(callId, 'utf8').toString('utf8');
        assert.equal(store.list({ limit: 1000 }).find((e) => e.id === info.id)?.callId, utf8);
      }
      // Nothing escaped: everything under root is the date tree and the catalogue.
      assert.deepEqual(fs.readdirSync(root).filter((n) => !n.startsWith('catalogue.sqlite')), ['2026']);
      assert.equal(fs.readdirSync(path.join(root, '2026', '03', '04')).length, dirs.size);
    } finally {
      store.closeCatalogue();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
