/**
 * source-siprec on real sockets: recording INVITEs as SRCs write them (the corpus's bodies from Oracle/Acme, Cisco
 * CUBE, BroadWorks, Sonus/Ribbon, and built ones for the habits no corpus body shows), and bodies or requests it
 * must refuse — each answered with the status and reason a user of the SRC's logs can act on, never a crash.
 * What reaches the core is checked too: the INVITE and the answer as SIP, with the annotation (parties, which
 * m-line is whose voice) the recording is made from.
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { makeTestPki, opensslUnavailable, type TestPki } from '../../test/tls-pki';
import { corpusPath, describeCorpus } from '../../test/corpus';
import { eventually, IngestRecorder, startSource, type RunningSource } from '../../test/ingest-recorder';
import { memoryLogger } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { parseSipMessage } from '../../core/sip/index';
import { parseSdp } from '../../core/sdp/index';
import type { SipResponse } from '../../core/sip/types';
import type { CallAnnotation } from '../../core/contracts/ingest';
import { SiprecSource, type SourceSiprecOptions } from './siprec-source';
import { freePortBlock } from '../../test/peers/ports';

async function options(over: Partial<SourceSiprecOptions> = {}): Promise<SourceSiprecOptions> {
  const rtp = await freePortBlock(40);
  return {
    host: '127.0.0.1',
    mediaAddress: '127.0.0.1',
    allow: ['127.0.0.0/8'],
    mediaAllow: [],
    udp: { enabled: true, port: 0 },
    tcp: { enabled: false, port: 0 },
    tls: { enabled: false, port: 0, requireClientCert: false },
    rtpPorts: { min: rtp, max: rtp + 39 },
    maxSessions: 10,
    sessionIdleTimeoutSec: 120,
    maxConnections: 16,
    maxConnectionsPerIp: 8,
    idleTimeoutSec: 300,
    messageTimeoutSec: 10,
    maxMessageBytes: 65535,
    keepAliveSec: 30,
    ...over,
  };
}

interface Answer {
  status: number;
  warning?: string;
  msg: SipResponse;
}

let seq = 0;

/** An INVITE (or other request) to the recorder over UDP; resolves with its final response. */
function request(port: number, o: { method?: string; contentType?: string; body?: string; headers?: string[]; lf?: boolean; toTag?: string; fromTag?: string; callId?: string; contact?: string }): Promise<Answer> {
  const n = ++seq;
  const method = o.method ?? 'INVITE';
  const body = o.body ?? '';
  const lines = [
    `${method} sip:srs@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKtest${n}x${Date.now()}`,
    `From: <sip:sbc@example.com>;tag=${o.fromTag ?? `src${n}`}`,
    `To: <sip:srs@example.com>${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? `siprec-test-${n}-${Date.now()}`}`,
    `CSeq: 1 ${method}`,
    `Contact: ${o.contact ?? '<sip:sbc@127.0.0.1:5999>;+sip.src'}`,
    'Max-Forwards: 70',
    ...(o.headers ?? []),
    ...(o.contentType !== undefined ? [`Content-Type: ${o.contentType}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  let text = lines.join('\r\n');
  if (o.lf === true) text = text.replace(/\r\n/g, '\n');
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no final answer to ${method} within 3 s`));
    }, 3000);
    s.on('message', (m) => {
      const msg = parseSipMessage(m, { transport: 'udp' });
      if (msg.kind !== 'response' || msg.status < 200) return;
      clearTimeout(timer);
      s.close();
      resolve({ status: msg.status, warning: msg.headers.get('Warning'), msg });
    });
    s.send(Buffer.from(text, 'utf8'), port, '127.0.0.1');
  });
}

/** The annotation of the INVITE the recorder handed to the core for a Call-ID. */
function annotationOf(sink: IngestRecorder, callId: string): CallAnnotation {
  const inv = sink.sips.find((s) => s.annotation !== undefined && s.data.includes(Buffer.from(`Call-ID: ${callId}`)));
  assert.ok(inv?.annotation !== undefined, `the INVITE of ${callId} reached the core with its annotation`);
  return inv.annotation;
}

function corpusBody(name: string): { body: string; boundary: string } {
  const body = fs.readFileSync(corpusPath(`siprec/${name}`), 'latin1');
  const boundary = /^--([^\r\n]+?)\s*$/m.exec(body)?.[1];
  assert.ok(boundary !== undefined, `${name}: a boundary line`);
  return { body, boundary };
}

const SDP2 = ['v=0', 'o=SRC 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 16000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=label:1', 'a=sendonly', 'm=audio 16002 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=label:2', 'a=sendonly', ''].join('\r\n');

function multipart(sdp: string, meta: string, boundary = 'b1'): string {
  return [`--${boundary}`, 'Content-Type: application/sdp', '', sdp, `--${boundary}`, 'Content-Type: application/rs-metadata+xml', 'Content-Disposition: recording-session', '', meta, `--${boundary}--`, ''].join('\r\n');
}

const META2 = `<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
<datamode>complete</datamode>
<session session_id="s1"/>
<participant participant_id="pa"><nameID aor="sip:alice@example.com"><name>Alice</name></nameID></participant>
<participant participant_id="pb"><nameID aor="sip:bob@example.com"/></participant>
<stream stream_id="st1" session_id="s1"><label>1</label></stream>
<stream stream_id="st2" session_id="s1"><label>2</label></stream>
<participantstreamassoc participant_id="pa"><send>st1</send></participantstreamassoc>
<participantstreamassoc participant_id="pb"><send>st2</send></participantstreamassoc>
</recording>`;

describe('source-siprec: the recording server on real sockets', function () {
  this.timeout(20_000);
  let running: RunningSource | undefined;
  let source: SiprecSource;
  let port: number;
  let metrics: PromMetrics;

  async function start(over: Partial<SourceSiprecOptions> = {}): Promise<IngestRecorder> {
    metrics = new PromMetrics();
    source = new SiprecSource(await options(over), { metrics, log: memoryLogger('debug').log });
    running = await startSource(source);
    port = source.listening.udp as number;
    return running.sink as IngestRecorder;
  }
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  it('a recording INVITE is answered 200: receive-only, labels echoed, a port of ours per stream; the core gets the INVITE and the answer', async () => {
    const sink = await start();
    const a = await request(port, { contentType: 'multipart/mixed;boundary=b1', headers: ['Require: siprec'], body: multipart(SDP2, META2), callId: 'ok-1' });
    assert.equal(a.status, 200);
    assert.match(a.msg.headers.get('Contact') ?? '', /\+sip\.srs/);
    const sdp = parseSdp(a.msg.body);
    assert.deepEqual(sdp.media.map((m) => [m.label, m.direction, m.port > 0]), [['1', 'recvonly', true], ['2', 'recvonly', true]]);
    assert.notEqual(sdp.media[0]?.port, sdp.media[1]?.port);
    const an = annotationOf(sink, 'ok-1');
    assert.deepEqual(an.caller, { uri: 'sip:alice@example.com', displayName: 'Alice' });
    assert.deepEqual(an.callee, { uri: 'sip:bob@example.com' });
    assert.deepEqual(an.mediaSenders, ['caller', 'callee']);
    assert.equal(sink.sips.filter((s) => s.data.includes(Buffer.from('ok-1'))).length, 2, 'the INVITE and the 200');
    assert.equal(source.sessions, 1);
    // Media from the SRC reaches the core with the port it came to; a BYE closes the session.
    const u = dgram.createSocket('udp4');
    u.send(Buffer.from('8000000100000001000000ff', 'hex'), sdp.media[1]!.port, '127.0.0.1');
    await eventually(() => sink.medias.length === 1);
    assert.equal(sink.medias[0]?.dport, sdp.media[1]!.port);
    u.close();
    const bye = await request(port, { method: 'BYE', toTag: a.msg.to.params.tag as string, fromTag: a.msg.from.params.tag as string, callId: 'ok-1' });
    assert.equal(bye.status, 200);
    await eventually(() => source.sessions === 0);
  });

  it('a metadata-only UPDATE changes the participants (200 without SDP, the swap an event); CANCEL of an answered session does nothing; of an unknown one: 481', async () => {
    const sink = await start();
    const a = await request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(SDP2, META2), callId: 'upd-1', fromTag: 'u1' });
    assert.equal(a.status, 200);
    const toTag = a.msg.to.params.tag as string;
    const carol = META2.replace('sip:bob@example.com', 'sip:carol@example.com').replace('participant_id="pb"', 'participant_id="pc"').replace('participantstreamassoc participant_id="pb"', 'participantstreamassoc participant_id="pc"');
    const u = await request(port, { method: 'UPDATE', contentType: 'application/rs-metadata+xml', body: carol, callId: 'upd-1', fromTag: 'u1', toTag });
    assert.equal(u.status, 200, u.warning);
    assert.equal(u.msg.body.length, 0, 'a metadata-only update is answered without SDP');
    const last = sink.sips.filter((x) => x.annotation !== undefined && x.data.includes(Buffer.from('Call-ID: upd-1'))).at(-1);
    assert.equal(last?.annotation?.callee?.uri, 'sip:carol@example.com');
    assert.deepEqual(last?.annotation?.events, ['sip:bob@example.com left (callee channel)', 'sip:carol@example.com joined (callee channel)']);
    assert.equal((await request(port, { method: 'CANCEL', callId: 'upd-1', fromTag: 'u1' })).status, 200);
    assert.equal(source.sessions, 1, 'a CANCEL after the answer does not end the session');
    assert.equal((await request(port, { method: 'CANCEL', callId: 'nobody' })).status, 481);
  });

  it('OPTIONS keepalives are answered 200 with what the server accepts; an unknown method 405', async () => {
    await start();
    const o = await request(port, { method: 'OPTIONS' });
    assert.equal(o.status, 200);
    assert.match(o.msg.headers.get('Accept') ?? '', /rs-metadata\+xml/);
    assert.equal((await request(port, { method: 'SUBSCRIBE' })).status, 405);
    assert.equal((await request(port, { method: 'BYE', toTag: 'nope' })).status, 481);
  });

  it('bare LF line endings throughout (AudioCodes): accepted and read', async () => {
    const sink = await start();
    const a = await request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(SDP2, META2), lf: true, callId: 'lf-1' });
    assert.equal(a.status, 200, a.warning);
    assert.deepEqual(annotationOf(sink, 'lf-1').mediaSenders, ['caller', 'callee']);
  });

  it('one mixed m-line (Metaswitch): accepted, both participants named, the channel said to be a mix', async () => {
    const sink = await start();
    const sdp1 = ['v=0', 'o=SRC 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 16000 RTP/AVP 8', 'a=label:mix', 'a=sendonly', ''].join('\r\n');
    const meta = META2.replace('<label>1</label>', '<label>mix</label>').replace('<send>st2</send>', '<send>st1</send>');
    const a = await request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(sdp1, meta), callId: 'mix-1' });
    assert.equal(a.status, 200, a.warning);
    const an = annotationOf(sink, 'mix-1');
    assert.deepEqual(an.mediaSenders, ['caller']);
    assert.equal(an.caller?.uri, 'sip:alice@example.com');
    assert.equal(an.callee?.uri, 'sip:bob@example.com');
    assert.ok(an.warnings?.some((w) => /stream mix is a mix of Alice <sip:alice@example.com> and sip:bob@example.com/.test(w)), an.warnings?.join('; '));
  });

  it('SAVP m-lines with SDES keys (OpenSIPS): answered SAVP with a key of ours; SAVP without keys: 488 naming DTLS-SRTP', async () => {
    await start();
    const savp = SDP2.replace(/RTP\/AVP/g, 'RTP/SAVP').replace(/a=sendonly/g, 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20\r\na=sendonly');
    const a = await request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(savp, META2) });
    assert.equal(a.status, 200, a.warning);
    const sdp = parseSdp(a.msg.body);
    assert.ok(sdp.media.every((m) => m.proto === 'RTP/SAVP' && m.crypto.length === 1 && m.crypto[0]?.suite === 'AES_CM_128_HMAC_SHA1_80'));
    assert.notEqual(sdp.media[0]?.crypto[0]?.keys[0]?.keySalt, 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz', 'a key of ours, not the offer echoed');
    const r = await request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(SDP2.replace(/RTP\/AVP/g, 'RTP/SAVP'), META2) });
    assert.equal(r.status, 488);
    assert.match(r.warning ?? '', /DTLS-SRTP is not supported/);
  });

  it('refuses what it cannot record, with the reason in a Warning: bad XML, bad multipart, other bodies, unknown extensions, no SDP, not a recording', async () => {
    await start();
    const cases: Array<[string, Parameters<typeof request>[1], number, RegExp]> = [
      ['metadata that is not XML', { contentType: 'multipart/mixed;boundary=b1', body: multipart(SDP2, '<recording><participant></recording>') }, 400, /not well-formed XML/],
      ['multipart without a boundary', { contentType: 'multipart/mixed', body: multipart(SDP2, META2) }, 400, /boundary/],
      ['a body of another type', { contentType: 'text/plain', body: 'hello' }, 415, /neither SDP nor multipart/],
      ['an extension it does not have', { contentType: 'application/sdp', body: SDP2, headers: ['Require: siprec, foo-bar'] }, 420, /foo-bar/],
      ['an INVITE without SDP', { headers: ['Require: siprec'] }, 488, /SDP offer/],
      ['an SDP that cannot be read', { contentType: 'application/sdp', body: 'v=0\r\nm=audio\r\n', headers: ['Require: siprec'] }, 400, /SDP/],
      ['a plain call (sendrecv, no SIPREC markers)', { contentType: 'application/sdp', body: SDP2.replace(/a=sendonly/g, 'a=sendrecv'), contact: '<sip:phone@127.0.0.1:5999>' }, 488, /not a recording session/],
      ['video only', { contentType: 'application/sdp', body: SDP2.replace(/m=audio/g, 'm=video'), headers: ['Require: siprec'] }, 488, /video is not recorded/],
    ];
    for (const [what, req, status, why] of cases) {
      const a = await request(port, req);
      assert.equal(a.status, status, `${what}: ${a.status} ${a.warning ?? ''}`);
      assert.match(a.warning ?? '', why, what);
    }
    assert.equal((await request(port, { contentType: 'application/sdp', body: SDP2, headers: ['Require: siprec, foo-bar'] })).msg.headers.get('Unsupported'), 'foo-bar');
    assert.equal(source.sessions, 0);
  });

  it('an SRC outside the allow-list gets no answer at all; its datagram is counted as an auth drop', async () => {
    const sink = await start({ allow: ['10.0.0.0/8'] });
    await assert.rejects(request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(SDP2, META2) }), /no final answer/);
    assert.ok(sink.drops.some((d) => d.startsWith('auth/')), JSON.stringify(sink.drops));
  });

  it('more sessions than maxSessions: 503 with Retry-After', async () => {
    await start({ maxSessions: 1 });
    assert.equal((await request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(SDP2, META2) })).status, 200);
    const b = await request(port, { contentType: 'multipart/mixed;boundary=b1', body: multipart(SDP2, META2) });
    assert.equal(b.status, 503);
    assert.equal(b.msg.headers.get('Retry-After'), '5');
  });
});

describe('source-siprec over mutual TLS', function () {
  this.timeout(20_000);
  let pki: TestPki | undefined;
  let running: RunningSource | undefined;
  const open: tls.TLSSocket[] = [];
  before(function () {
    const why = opensslUnavailable();
    if (why !== undefined) {
      console.warn(`    [tapline] ${why}: source-siprec TLS test skipped`);
      return this.skip();
    }
    pki = makeTestPki();
  });
  after(async () => {
    for (const s of open) s.destroy();
    await running?.stop();
    pki?.cleanup();
  });

  function connect(port: number, withCert: 'mine' | 'other' | 'none'): Promise<tls.TLSSocket> {
    const p = pki as TestPki;
    const cert = withCert === 'mine' ? { cert: fs.readFileSync(p.clientCert), key: fs.readFileSync(p.clientKey) } : withCert === 'other' ? { cert: fs.readFileSync(p.otherClientCert), key: fs.readFileSync(p.otherClientKey) } : {};
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', ca: fs.readFileSync(p.ca), servername: 'localhost', ...cert }, () => resolve(s));
      open.push(s);
      s.on('error', reject);
    });
  }

  it('an SRC with a client certificate from the CA opens a recording session over TLS; one without, or from another CA, is refused and counted', async () => {
    const p = pki as TestPki;
    const source = new SiprecSource(await options({ udp: { enabled: false, port: 0 }, tls: { enabled: true, port: 0, cert: p.serverCert, key: p.serverKey, ca: p.ca, requireClientCert: true } }), { metrics: new PromMetrics(), log: memoryLogger('debug').log });
    running = await startSource(source);
    const sink = running.sink as IngestRecorder;
    const port = source.listening.tls as number;
    const good = await connect(port, 'mine');
    const body = multipart(SDP2, META2);
    const invite = [
      `INVITE sip:srs@127.0.0.1:${port};transport=tls SIP/2.0`,
      'Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1',
      'From: <sip:sbc@example.com>;tag=tls1',
      'To: <sip:srs@example.com>',
      'Call-ID: tls-1',
      'CSeq: 1 INVITE',
      'Contact: <sips:sbc@127.0.0.1:5999>;+sip.src',
      'Require: siprec',
      'Content-Type: multipart/mixed;boundary=b1',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
    const answer = new Promise<string>((resolve) => {
      let got = '';
      good.on('data', (d: Buffer) => {
        got += d.toString('utf8');
        if (/SIP\/2\.0 200 OK[\s\S]*\r\n\r\n[\s\S]*m=audio[\s\S]*m=audio/.test(got)) resolve(got);
      });
    });
    good.write(invite);
    assert.match(await answer, /Contact: <sip:srs@127\.0\.0\.1:\d+;transport=tls>;\+sip\.srs/);
    assert.equal(annotationOf(sink, 'tls-1').caller?.uri, 'sip:alice@example.com');
    for (const who of ['none', 'other'] as const) {
      const s = await connect(port, who).catch(() => undefined);
      s?.write(invite.replace('tls-1', `tls-${who}`));
      await new Promise((r) => setTimeout(r, 200));
    }
    await eventually(() => sink.drops.length >= 2);
    assert.deepEqual(sink.drops, ['auth/client-certificate-missing', 'auth/client-certificate-invalid']);
    assert.equal(source.sessions, 1);
  });
});

describeCorpus('source-siprec: recording bodies SRCs really send (../shared/corpus/siprec)', function () {
  this.timeout(20_000);
  let running: RunningSource | undefined;
  let port: number;

  before(async () => {
    const source = new SiprecSource(await options(), { metrics: new PromMetrics(), log: memoryLogger('debug').log });
    running = await startSource(source);
    port = source.listening.udp as number;
  });
  after(async () => running?.stop());
  const sink = (): IngestRecorder => running?.sink as IngestRecorder;

  async function offer(file: string, callId: string, contentType?: string): Promise<{ a: Answer; an: CallAnnotation }> {
    const { body, boundary } = corpusBody(file);
    const a = await request(port, { contentType: contentType ?? `multipart/mixed;boundary=${boundary}`, body, headers: ['Require: siprec'], callId });
    assert.equal(a.status, 200, `${file}: ${a.status} ${a.warning ?? ''}`);
    return { a, an: annotationOf(sink(), callId) };
  }

  it('Oracle/Acme (draft namespace, ids as id=, send inside the participant): each stream on its sender\'s channel', async () => {
    const { a, an } = await offer('acme-siprec-offer.body', 'acme-1');
    assert.deepEqual(parseSdp(a.msg.body).media.map((m) => m.label), ['16777227', '16777228']);
    assert.deepEqual(an.caller, { uri: 'sip:9000@192.168.50.102', displayName: '9000' });
    assert.deepEqual(an.callee, { uri: 'sip:1002@192.168.50.10', displayName: '1002' });
    assert.deepEqual(an.mediaSenders, ['caller', 'callee']);
    assert.equal(an.facts?.siprecSessionId, 'AavRXwIIQj1Q39eJulTipQ==');
  });

  it('Cisco CUBE (RFC 7865 associations, an extra application/gtd part): parties and senders from participantstreamassoc', async () => {
    const { an } = await offer('cisco-siprec-offer.body', 'cisco-1');
    assert.equal(an.caller?.uri, 'sip:7301@35.162.237.204');
    assert.deepEqual(an.callee, { uri: 'sip:7300@35.162.237.204', displayName: '7300' });
    assert.deepEqual(an.mediaSenders, ['caller', 'callee']);
    assert.deepEqual(an.facts?.sipSessionId, ['e9fffff2020a598b86962867715db0cf;remote=cd0f7093d62c5f0697098fd69a4aa57b']);
  });

  it('Sonus/Ribbon (tns: prefixes; the first participant sends the second label): channels follow the associations, not the order', async () => {
    const { an } = await offer('sonus-siprec-offer.body', 'sonus-1');
    assert.deepEqual(an.caller, { uri: 'sip:2249888012@172.16.195.72' }, 'label 1 is sent by the second participant');
    assert.deepEqual(an.callee, { uri: 'sip:2249888500@172.16.198.55', displayName: 'Extension 8500' });
    assert.deepEqual(an.facts?.srcCallIds, ['2da553f7-a48b-1235-d6a2-5254003a4988']);
  });

  it('BroadWorks (part headers without a space, a garbled metadata type, unstructured recording_metadata, one stream): recorded, and said why the parties are the SIP ones', async () => {
    const { an } = await offer('broadworks-offer.body', 'bw-1');
    assert.deepEqual(an.mediaSenders, ['caller']);
    assert.ok(an.warnings?.some((w) => /root element is <recording_metadata>/.test(w)), an.warnings?.join('; '));
    assert.ok(an.warnings?.some((w) => /one stream for the whole session/.test(w)), an.warnings?.join('; '));
  });

  it('no metadata at all (Cisco network-based recording: a plain send-only SDP, no SIPREC markers): recorded by m-line order', async () => {
    const { body } = corpusBody('cisco-siprec-offer.body');
    const sdpOnly = fs.readFileSync(corpusPath('siprec/non-siprec-payload.body'), 'latin1');
    assert.ok(body.length > 0);
    const a = await request(port, { contentType: 'application/sdp', body: sdpOnly, callId: 'nbr-1', contact: '<sip:cube@127.0.0.1:5999>' });
    assert.equal(a.status, 200, a.warning);
    const an = annotationOf(sink(), 'nbr-1');
    assert.deepEqual(an.mediaSenders, ['caller']);
    assert.ok(an.warnings?.some((w) => /no recording metadata/.test(w)));
  });

  it('every other body of the corpus is answered (200 or a reasoned refusal), never a crash', async () => {
    for (const f of ['broadworks-offer-2.body', 'procomm-siprec-offer.body', 'connectel-offer.body', 'connectel-offer2.body', 'connectel-offer3.body', 'inactive-sdp-offer.body']) {
      const { body, boundary } = corpusBody(f);
      const a = await request(port, { contentType: `multipart/mixed;boundary=${boundary}`, body, headers: ['Require: siprec'] });
      assert.ok(a.status === 200 || (a.status >= 400 && (a.warning ?? '') !== ''), `${f}: ${a.status} ${a.warning ?? ''}`);
    }
  });
});
