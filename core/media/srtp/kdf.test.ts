import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { isTaplineError, ErrorCodes } from '../../errors';
import { corpusPath, describeCorpus } from '../../../test/corpus';
import { AesCm, deriveKey, deriveSessionKeys, KdfLabel, parseInlineKey } from './index';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The text of one RFC 3711 appendix section, from its heading to the next one. */
function section(text: string, heading: string, next: string): string {
  const from = text.indexOf(`\n${heading}`);
  const to = text.indexOf(`\n${next}`, from + 1);
  assert.ok(from >= 0 && to > from, `RFC 3711 text has no ${heading}`);
  return text.slice(from, to);
}

function field(sec: string, name: string): Buffer {
  const m = new RegExp(`${name}:\\s+([0-9A-F]+)`).exec(sec);
  assert.ok(m?.[1] !== undefined, `no "${name}" in the vector text`);
  return hex(m[1]);
}

describeCorpus('media/srtp: RFC 3711 Appendix B vectors (vectors/rfc3711.txt)', () => {
  const rfc = fs.readFileSync(corpusPath('vectors/rfc3711.txt'), 'utf8');

  it('B.2 AES-CM keystream: every listed counter block, over the full 65282-block segment', () => {
    const sec = section(rfc, 'B.2.  AES-CM Test Vectors', 'B.3.  Key Derivation Test Vectors');
    const key = field(sec, 'Session Key');
    const offset = field(sec, 'Offset');
    assert.equal(key.toString('hex'), '2b7e151628aed2a6abf7158809cf4f3c');
    const rows = [...sec.matchAll(/^\s*([0-9A-F]{32})\s+([0-9A-F]{32})\s*$/gm)].map((m) => ({ counter: hex(m[1] ?? ''), ks: hex(m[2] ?? '') }));
    assert.equal(rows.length, 6);
    const segment = Number(/segment length:\s+(\d+) octets/.exec(sec)?.[1]);
    assert.equal(segment, 1044512);
    const ks = new AesCm(key).keystream(offset, segment);
    assert.equal(ks.length, segment);
    for (const r of rows) {
      const j = r.counter.readUInt16BE(14); // the block number: counter = offset + j
      assert.deepEqual(r.counter.subarray(0, 14), offset.subarray(0, 14));
      assert.equal(ks.subarray(j * 16, j * 16 + 16).toString('hex'), r.ks.toString('hex'), `block ${j.toString(16)}`);
    }
  });

  it('B.3 key derivation: cipher key, cipher salt and the 94-byte auth key', () => {
    const sec = section(rfc, 'B.3.  Key Derivation Test Vectors', "Authors' Addresses");
    const masterKey = field(sec, 'master key');
    const masterSalt = field(sec, 'master salt');
    const cipherKey = field(sec, 'cipher key');
    const cipherSalt = field(sec, 'cipher salt');
    // The auth key rows: left column, up to the AES input blocks on the right.
    const authRows = [...sec.matchAll(/^\s*([0-9A-F]{28,32})\s+0EC675AD498AFEEAB6960B3AABE6000\d\s*$/gm)].map((m) => m[1] ?? '');
    const authKey = hex(authRows.join(''));
    assert.equal(authKey.length, 94);

    const k = deriveSessionKeys(masterKey, masterSalt);
    assert.equal(k.rtpKey.toString('hex'), cipherKey.toString('hex'));
    assert.equal(k.rtpKey.toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087');
    assert.equal(k.rtpSalt.toString('hex'), cipherSalt.toString('hex'));
    assert.equal(k.rtpAuth.toString('hex'), authKey.subarray(0, 20).toString('hex'));
    assert.equal(deriveKey(masterKey, masterSalt, KdfLabel.RtpAuth, 94).toString('hex'), authKey.toString('hex'));
    // SRTCP keys use labels 3-5 and so differ from the SRTP ones.
    assert.notEqual(k.rtcpKey.toString('hex'), k.rtpKey.toString('hex'));
    assert.equal(k.rtcpAuth.length, 20);
    assert.equal(k.rtcpSalt.length, 14);
  });
});

describe('media/srtp: key derivation and inline keys', () => {
  // RFC 3711 B.3 hard-coded too, so the KDF is checked without the corpus.
  const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');

  it('derives the RFC 3711 B.3 cipher key and salt (kdr 0)', () => {
    const k = deriveSessionKeys(masterKey, masterSalt);
    assert.equal(k.rtpKey.toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087');
    assert.equal(k.rtpSalt.toString('hex'), '30cbbc08863d8c85d49db34a9ae1');
    assert.equal(k.rtpAuth.toString('hex'), 'cebe321f6ff7716b6fd4ab49af256a156d38baa4');
  });

  it('kdr > 0: index DIV kdr enters the key id (RFC 3711 §4.3.1)', () => {
    const base = deriveSessionKeys(masterKey, masterSalt, 0, 0);
    assert.deepEqual(deriveSessionKeys(masterKey, masterSalt, 1024, 1023), base, 'r = 0 below the first kdr boundary');
    assert.notDeepEqual(deriveSessionKeys(masterKey, masterSalt, 1024, 1024).rtpKey, base.rtpKey);
    assert.throws(() => deriveSessionKeys(masterKey, masterSalt, 3), RangeError);
    assert.throws(() => deriveSessionKeys(masterKey, masterSalt, 0, 2 ** 48), RangeError);
  });

  it('parseInlineKey splits 40 base64 characters into a 16-byte key and a 14-byte salt', () => {
    const k = parseInlineKey('aSBrbm93IGFsbCB5b3VyIGxpdHRsZSBzZWNyZXRz');
    assert.equal(Buffer.concat([k.masterKey, k.masterSalt]).toString('latin1'), 'i know all your little secrets');
    assert.equal(k.masterKey.length, 16);
    assert.equal(k.masterSalt.length, 14);
  });

  it('parseInlineKey refuses bad base64 and wrong lengths with TaplineError SDP_PARSE, not echoing the key', () => {
    for (const bad of ['', 'not base64 at all!', 'aSBrbm93IGFsbCB5b3VyIGxpdHRsZSBzZWNyZXRz=x', 'aSBrbm93IGFsbCB5b3VyIGxpdHRsZSBzZWNy', 'aSBrbm93IGFsbCB5b3VyIGxpdHRsZSBzZWNyZXRzAAAA']) {
      assert.throws(
        () => parseInlineKey(bad),
        (e: unknown) => isTaplineError(e, ErrorCodes.SDP_PARSE) && !e.message.includes('bGl0dGxl') && /SRTP inline key/.test(e.message),
        JSON.stringify(bad),
      );
    }
    assert.throws(() => deriveSessionKeys(Buffer.alloc(15), Buffer.alloc(14)), (e: unknown) => isTaplineError(e, ErrorCodes.SDP_PARSE));
  });
});
