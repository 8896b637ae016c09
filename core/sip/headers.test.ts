import * as assert from 'node:assert/strict';
import { HeaderStore, canonicalHeader, splitList } from './headers';

describe('SIP header names and lists', () => {
  it('expands the compact forms of RFC 3261, 3265, 3515, 3841, 3892, 4028 and 4474', () => {
    const table: Record<string, string> = {
      a: 'Accept-Contact', b: 'Referred-By', c: 'Content-Type', d: 'Request-Disposition', e: 'Content-Encoding',
      f: 'From', i: 'Call-ID', j: 'Reject-Contact', k: 'Supported', l: 'Content-Length', m: 'Contact',
      n: 'Identity-Info', o: 'Event', r: 'Refer-To', s: 'Subject', t: 'To', u: 'Allow-Events', v: 'Via',
      x: 'Session-Expires', y: 'Identity',
    };
    for (const [compact, full] of Object.entries(table)) {
      assert.equal(canonicalHeader(compact)[0], full);
      assert.equal(canonicalHeader(compact.toUpperCase())[0], full);
      assert.equal(canonicalHeader(full.toUpperCase())[0], full);
    }
    assert.deepEqual(canonicalHeader('X-Custom'), ['X-Custom', 'x-custom']);
    assert.deepEqual(canonicalHeader('cseq'), ['CSeq', 'cseq']);
    assert.deepEqual(canonicalHeader('q'), ['q', 'q']); // not a compact form
  });

  it('splits at top-level commas only', () => {
    assert.deepEqual(splitList('a, b ,c'), ['a', 'b', 'c']);
    assert.deepEqual(splitList('"Doe, J" <sip:a@b;x=1,2>;p="q,\\"r,", <sip:c@d>'), ['"Doe, J" <sip:a@b;x=1,2>;p="q,\\"r,"', '<sip:c@d>']);
    assert.deepEqual(splitList('a,,b,'), ['a', '', 'b', '']);
    assert.deepEqual(splitList('"unterminated, x'), ['"unterminated, x']);
    assert.deepEqual(splitList(''), ['']);
  });

  it('HeaderStore: case-insensitive get/has, getAll splits list headers only, entries keep wire order', () => {
    const list = [
      ['Via', 'SIP/2.0/UDP a, SIP/2.0/UDP b'],
      ['Date', 'Sat, 15 Oct 2005 04:44:56 GMT'],
      ['Via', 'SIP/2.0/UDP c'],
      ['Supported', ''],
      ['X-Thing', 'p, q'],
    ] as const;
    const h = new HeaderStore(list.map(([n, v]) => [n, v] as const), list.map(([n]) => n.toLowerCase()));
    assert.equal(h.get('VIA'), 'SIP/2.0/UDP a, SIP/2.0/UDP b');
    assert.equal(h.get('v'), 'SIP/2.0/UDP a, SIP/2.0/UDP b');
    assert.deepEqual(h.getAll('via'), ['SIP/2.0/UDP a', 'SIP/2.0/UDP b', 'SIP/2.0/UDP c']);
    assert.deepEqual(h.getAll('Date'), ['Sat, 15 Oct 2005 04:44:56 GMT']);
    assert.deepEqual(h.getAll('x-thing'), ['p, q']);
    assert.deepEqual(h.getAll('k'), []);
    assert.ok(h.has('Supported'));
    assert.ok(!h.has('Require'));
    assert.equal(h.get('Require'), undefined);
    assert.deepEqual(h.entries().map(([n]) => n), ['Via', 'Date', 'Via', 'Supported', 'X-Thing']);
  });
});
