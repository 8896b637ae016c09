import { strict as assert } from 'node:assert';
import { PluginHarness } from '../testing/index';
import type { Call } from '../dialog/types';
import { parseInlineKey } from './srtp/index';
import { CallSrtpKeys, DEFAULT_SRTP_KEY_OPTIONS, type SrtpKeyOptions, type StreamKeyState } from './srtp-keys';
import { request, response } from '../../test/sip-text';
import { describeLibsrtp, libsrtp } from '../../test/srtp-reference';
import { rtpPacket } from '../../test/rtp-build';

const K1 = Buffer.alloc(30, 1).toString('base64');
const K2 = Buffer.alloc(30, 2).toString('base64');
const K3 = Buffer.alloc(30, 3).toString('base64');
const K4 = Buffer.alloc(30, 4).toString('base64');
const US = 1_000_000;
const T0 = Date.UTC(2026, 0, 1) * 1000;

function media(ip: string, port: number, lines: string[], proto = 'RTP/SAVP'): string {
  return ['v=0', `o=- 1 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} ${proto} 0`, 'a=rtpmap:0 PCMU/8000', ...lines, ''].join('\r\n');
}

const lyncOffer = (key: string) => [`a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`, `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`, `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31`];

/** Tracks the given SIP exchange (one message each 10 ms from T0) and returns the call. */
async function callOf(messages: string[], at: number[] = []): Promise<Call> {
  const h = await PluginHarness.core();
  messages.forEach((m, i) => h.sip(m, { ts: at[i] ?? T0 + i * 10_000 }));
  const call = h.recorded.callsStarted[0];
  assert.ok(call !== undefined, 'the exchange starts a call');
  await h.stop();
  return call;
}

/** Packets protected by libsrtp2 (the independent implementation) with `key`, optional MKI byte. */
function protect(key: string, seqs: number[], opts: { mki?: number; ssrc?: number } = {}): Buffer[] {
  const { masterKey, masterSalt } = parseInlineKey(key);
  const ssrc = opts.ssrc ?? 0x1234;
  const packets = seqs.map((seq) => rtpPacket({ pt: 0, seq, ts: seq * 160, ssrc, payload: Buffer.alloc(160, seq & 0xff) }));
  const req = { op: 'protect' as const, suite: 'AES_CM_128_HMAC_SHA1_80' as const, masterKey, masterSalt, packets };
  const r = libsrtp(opts.mki !== undefined ? { ...req, mki: Buffer.from([opts.mki]) } : req);
  return r.packets.map((p) => p as Buffer);
}

function decryptAll(keys: CallSrtpKeys, side: 'caller' | 'callee', packets: Buffer[], ts: number, st: StreamKeyState = { key: undefined }): Array<string> {
  return packets.map((p) => {
    const r = keys.unprotect(side, p, ts, st);
    return typeof r === 'string' ? r : `ok:${r[0]}`;
  });
}

const offer = (key: string, extra: string[] = []) => request('INVITE', { body: media('10.0.0.1', 4000, [...lyncOffer(key), ...extra]) });
const answer = (lines: string[], proto = 'RTP/SAVP') => response(200, 'OK', 'INVITE', { toTag: 'tt', body: media('10.0.0.2', 5000, lines, proto) });

describeLibsrtp('CallSrtpKeys: which SDES key decrypts what (packets protected by libsrtp2)', function () {
  this.timeout(20_000);

  it('the offerer sends with its line of the tag the answer chose (MKI 1:1), the answerer with its own key', async () => {
    const call = await callOf([offer(K1), answer([`a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${K2}|2^31|1:1`])]);
    const keys = new CallSrtpKeys(call, DEFAULT_SRTP_KEY_OPTIONS);
    keys.refresh();
    assert.deepEqual([keys.sideProtection('caller').kind, keys.sideProtection('callee').kind], ['srtp', 'srtp']);
    assert.deepEqual(decryptAll(keys, 'caller', protect(K1, [1, 2], { mki: 1 }), T0 + US), ['ok:1', 'ok:2']);
    assert.deepEqual(decryptAll(keys, 'callee', protect(K2, [7, 8], { mki: 1 }), T0 + US), ['ok:7', 'ok:8']);
    // The same key without the MKI byte (the a=crypto:3 line): Lync's "symmetric MKI" interop.
    assert.deepEqual(decryptAll(keys, 'caller', protect(K1, [100], { ssrc: 99 }), T0 + US), ['ok:100']);
  });

  it('a wrong key is refused as an authentication failure, never decrypted', async () => {
    const call = await callOf([offer(K1), answer([`a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${K2}|2^31`])]);
    const keys = new CallSrtpKeys(call, { ...DEFAULT_SRTP_KEY_OPTIONS, keyReset: false });
    keys.refresh();
    assert.deepEqual(decryptAll(keys, 'callee', protect(K3, [1, 2]), T0 + US), ['auth', 'auth']);
  });

  it('an answer without a=crypto to an RTP/AVP offer declines SRTP: both directions are clear', async () => {
    const call = await callOf([request('INVITE', { body: media('10.0.0.1', 4000, lyncOffer(K1), 'RTP/AVP') }), answer([], 'RTP/AVP')]);
    const keys = new CallSrtpKeys(call, DEFAULT_SRTP_KEY_OPTIONS);
    keys.refresh();
    assert.deepEqual([keys.sideProtection('caller').kind, keys.sideProtection('callee').kind], ['clear', 'clear']);
  });

  it('RTP/SAVP without a=crypto, or DTLS-SRTP, has no key, with the reason', async () => {
    const call = await callOf([offer(K1), answer(['a=fingerprint:sha-256 AB:CD', 'a=setup:active'])]);
    const keys = new CallSrtpKeys(call, DEFAULT_SRTP_KEY_OPTIONS);
    keys.refresh();
    const p = keys.sideProtection('callee');
    assert.equal(p.kind, 'no-key');
    assert.match(p.kind === 'no-key' ? p.reason : '', /DTLS-SRTP/);
    assert.equal(keys.sideProtection('caller').kind, 'srtp');
  });

  describe('a new key on re-INVITE', () => {
    const reinvite = () => [
      offer(K1),
      answer([`a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${K2}|2^31|1:1`]),
      request('ACK', { toTag: 'tt' }),
      request('INVITE', { toTag: 'tt', cseq: 2, body: media('10.0.0.1', 4000, lyncOffer(K3)) }),
      response(200, 'OK', 'INVITE', { toTag: 'tt', cseq: 2, body: media('10.0.0.2', 5000, [`a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${K4}|2^31|1:1`]) }),
    ];
    const at = [T0, T0 + 10_000, T0 + 20_000, T0 + 10 * US, T0 + 10 * US + 10_000];
    const opts = (o: Partial<SrtpKeyOptions>): SrtpKeyOptions => ({ ...DEFAULT_SRTP_KEY_OPTIONS, overlapSec: 2, ...o });

    it('starts a fresh context (ROC 0, new replay window) and accepts the old key for the overlap only', async () => {
      const call = await callOf(reinvite(), at);
      const keys = new CallSrtpKeys(call, opts({ keyReset: false }));
      keys.refresh();
      const st: StreamKeyState = { key: undefined };
      assert.deepEqual(decryptAll(keys, 'caller', protect(K1, [10, 11], { mki: 1 }), T0 + 5 * US, st), ['ok:10', 'ok:11']);
      // In flight just after the re-key: old key still good; then the new one, with sequence numbers going on.
      assert.deepEqual(decryptAll(keys, 'caller', protect(K1, [12], { mki: 1 }), T0 + 11 * US, st), ['ok:12']);
      assert.deepEqual(decryptAll(keys, 'caller', protect(K3, [13, 14], { mki: 1 }), T0 + 11 * US, st), ['ok:13', 'ok:14']);
      // After the overlap, the old key is refused (no key reset).
      assert.deepEqual(decryptAll(keys, 'caller', protect(K1, [15], { mki: 1 }), T0 + 13 * US, st), ['auth']);
      assert.match(st.key?.label ?? '', /re-INVITE offer/);
    });

    it('with key reset (the default) a stream that stops authenticating finds any key of the call that works', async () => {
      const call = await callOf(reinvite(), at);
      const keys = new CallSrtpKeys(call, opts({}));
      keys.refresh();
      assert.deepEqual(decryptAll(keys, 'caller', protect(K1, [15], { mki: 1 }), T0 + 30 * US), ['ok:15']);
      // Even the other party's key (a gateway sending with the key it received).
      assert.deepEqual(decryptAll(keys, 'caller', protect(K4, [16], { mki: 1, ssrc: 5 }), T0 + 30 * US), ['ok:16']);
    });

    it('the same key repeated in a session refresh keeps the context (no ROC reset)', async () => {
      const msgs = reinvite();
      msgs[3] = request('INVITE', { toTag: 'tt', cseq: 2, body: media('10.0.0.1', 4000, lyncOffer(K1)) });
      const call = await callOf(msgs, at);
      const keys = new CallSrtpKeys(call, opts({ keyReset: false }));
      keys.refresh();
      assert.equal(keys.allKeys().filter((k) => k.side === 'caller').length, 1);
    });
  });

  describe('ignoreKeysOnReplaces', () => {
    const replacesInvite = () =>
      request('INVITE', { callId: 'call-2@test', fromTag: 'f2', headers: ['Replaces: call-1@test;to-tag=tt;from-tag=ftag'], body: media('10.0.0.1', 4002, lyncOffer(K3)) });

    it('off: the keys of an INVITE with Replaces are taken', async () => {
      const call = await callOf([replacesInvite()]);
      const keys = new CallSrtpKeys(call, DEFAULT_SRTP_KEY_OPTIONS);
      keys.refresh();
      assert.deepEqual(decryptAll(keys, 'caller', protect(K3, [1], { mki: 1 }), T0 + US), ['ok:1']);
    });

    it('on: they are not; the party keeps the key of the replaced call, or has none (with the reason)', async () => {
      const h = await PluginHarness.core();
      h.sip(offer(K1), { ts: T0 });
      h.sip(answer([`a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${K2}|2^31|1:1`]), { ts: T0 + 10_000 });
      h.sip(replacesInvite(), { ts: T0 + 5 * US });
      const [first, second] = h.recorded.callsStarted;
      assert.ok(first !== undefined && second !== undefined);
      const on = { ...DEFAULT_SRTP_KEY_OPTIONS, ignoreKeysOnReplaces: true };
      const keys = new CallSrtpKeys(second, on, (c) => (c.replaces?.key === first.key ? first : undefined));
      keys.refresh();
      assert.deepEqual(decryptAll(keys, 'caller', protect(K1, [1], { mki: 1 }), T0 + 6 * US), ['ok:1']);
      assert.match(keys.allKeys()[0]?.label ?? '', /replaced call call-1@test/);
      const alone = new CallSrtpKeys(second, on);
      alone.refresh();
      const p = alone.sideProtection('caller');
      assert.equal(p.kind, 'no-key');
      assert.match(p.kind === 'no-key' ? p.reason : '', /Replaces/);
      await h.stop();
    });
  });
});
