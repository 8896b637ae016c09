/**
 * A SIPREC recording is a recording like any other: the recorder's users and licences are decided by the
 * participants the metadata names (not by the SBC that opened the session). The source runs inside a kernel with
 * a users list; two sessions come over UDP, one between a licensed user and a customer, one between two people
 * nobody licensed; only the first is recorded, named after its participants, with the SIPREC facts.
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { PluginHarness } from '../../core/testing/index';
import { parseSipMessage } from '../../core/sip/index';
import { parseSdp } from '../../core/sdp/index';
import { encodeUlaw } from '../../core/media/g711';
import { rtpPacket } from '../../core/testing/rtp';
import { tone } from '../../core/testing/rtp';
import { freePortBlock } from '../../test/peers/ports';
import { freeUdpPort } from '../../test/serve-process';
import { eventually } from '../../test/ingest-recorder';
import { Tokens } from '../../core/tokens';

const META = (a: string, b: string): string =>
  `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode><session session_id="sess-${a}"/>` +
  `<participant participant_id="pa"><nameID aor="${a}"/></participant><participant participant_id="pb"><nameID aor="${b}"/></participant>` +
  '<stream stream_id="s1" session_id="x"><label>1</label></stream><stream stream_id="s2" session_id="x"><label>2</label></stream>' +
  '<participantstreamassoc participant_id="pa"><send>s1</send></participantstreamassoc><participantstreamassoc participant_id="pb"><send>s2</send></participantstreamassoc></recording>';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\nm=audio 16002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n';

function message(port: number, method: string, callId: string, cseq: number, toTag?: string, body = ''): Buffer {
  const ct = body === '' ? [] : ['Content-Type: multipart/mixed;boundary=b'];
  return Buffer.from(
    [`${method} sip:srs@127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK${callId}${cseq}`, 'From: <sip:sbc@example.com>;tag=sbc', `To: <sip:srs@example.com>${toTag !== undefined ? `;tag=${toTag}` : ''}`, `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`, 'Contact: <sip:sbc@127.0.0.1:5999>;+sip.src', 'Require: siprec', ...ct, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'),
  );
}

describe('source-siprec: who is recorded is decided by the participants', function () {
  this.timeout(20_000);

  it('a session with a licensed user is recorded and named after its participants; one between two unlicensed people is not', async () => {
    const sipPort = await freeUdpPort();
    const rtp = await freePortBlock(40);
    const h = await PluginHarness.create('source-siprec', {
      options: { host: '127.0.0.1', mediaAddress: '127.0.0.1', udp: { port: sipPort }, tcp: { enabled: false }, rtpPorts: { min: rtp, max: rtp + 39 } },
      with: [{ plugin: 'codec-g711' }],
      config: { users: [{ uri: 'sip:agent7@contoso.com', name: 'Agent Seven' }] },
      start: false,
    });
    // As `tapline serve` runs it: the wall clock, the source running into the kernel's ingest.
    h.kernel.clock.useWallClock();
    await h.kernel.start();
    const [source] = h.resolveAll(Tokens.Source);
    const abort = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const run = source!.run(h.source(source!.label), abort.signal, { ready: () => ready() });
    await isReady;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const answers = new Map<string, { tag: string; ports: number[] }>();
    sock.on('message', (m) => {
      const msg = parseSipMessage(m, { transport: 'udp' });
      if (msg.kind === 'response' && msg.status === 200 && msg.cseq.method === 'INVITE') {
        answers.set(msg.callId, { tag: msg.to.params.tag as string, ports: parseSdp(msg.body).media.map((x) => x.port) });
      }
    });
    const send = (b: Buffer, port = sipPort): void => void sock.send(b, port, '127.0.0.1');
    try {
      const sessions = [
        { callId: 'licensed', meta: META('sip:agent7@contoso.com', 'sip:+15551234567@pstn.example') },
        { callId: 'unlicensed', meta: META('sip:carol@elsewhere.example', 'sip:dave@elsewhere.example') },
      ];
      for (const s of sessions) send(message(sipPort, 'INVITE', s.callId, 1, undefined, `--b\r\nContent-Type: application/sdp\r\n\r\n${SDP}--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n${s.meta}\r\n--b--\r\n`));
      await eventually(() => answers.size === 2, 5000, 'both sessions answered');
      // One second of two tones to each session's ports.
      for (let i = 0; i < 50; i++) {
        for (const s of sessions) {
          const a = answers.get(s.callId)!;
          send(rtpPacket({ pt: 0, seq: i, ts: i * 160, ssrc: 0x1000 + s.callId.length, payload: encodeUlaw(tone(440, i * 160, 160)) }), a.ports[0]);
          send(rtpPacket({ pt: 0, seq: i, ts: i * 160, ssrc: 0x2000 + s.callId.length, payload: encodeUlaw(tone(1000, i * 160, 160)) }), a.ports[1]);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const s of sessions) {
        send(message(sipPort, 'ACK', s.callId, 1, answers.get(s.callId)!.tag));
        send(message(sipPort, 'BYE', s.callId, 2, answers.get(s.callId)!.tag));
      }
      await eventually(() => h.recorded.callsEnded.length === 2, 5000, 'both sessions ended');
    } finally {
      sock.close();
      abort.abort();
      await run;
    }
    const r = await h.stop();
    assert.equal(r.recordings.length, 1, r.recordings.map((x) => x.call.from.uri).join(', '));
    const rec = r.recordings[0]!;
    assert.equal(rec.call.from.uri, 'sip:agent7@contoso.com');
    assert.equal(rec.call.to.uri, 'sip:+15551234567@pstn.example');
    assert.deepEqual(rec.users?.map((u) => [u.uri, u.side]), [['sip:agent7@contoso.com', 'caller']]);
    assert.equal(rec.call.source?.facts.siprecSessionId, 'sess-sip:agent7@contoso.com');
    assert.ok(rec.caller.packets >= 45 && rec.callee.packets >= 45, `${rec.caller.packets}/${rec.callee.packets} packets`);
  });
});
