import { strict as assert } from 'node:assert';
import { request } from '../../test/sip-text';
import { PluginHarness } from './index';

describe('testing: PluginHarness.packet() over TCP', () => {
  const invite = request('INVITE', { callId: 'tcp-harness@test', body: 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n' });
  const flow = { proto: 'tcp' as const, src: '10.0.0.1', sport: 50000, dst: '10.0.0.2', dport: 5060 };

  it('consecutive segments of one direction form one byte stream: a message split in three is parsed once', async () => {
    const h = await PluginHarness.core();
    const b = Buffer.from(invite);
    const cuts = [0, 37, 200, b.length];
    for (let i = 0; i + 1 < cuts.length; i++) h.packet({ ...flow, payload: b.subarray(cuts[i], cuts[i + 1]) });
    const rec = await h.stop();
    assert.equal(rec.sipErrors.length, 0, rec.sipErrors.map((e) => e.err.message).join('; '));
    assert.equal(rec.sip.length, 1);
    assert.equal(rec.sip[0]?.msg.callId, 'tcp-harness@test');
  });

  it('an explicit seq replays a segment as a retransmission, which is not parsed twice', async () => {
    const h = await PluginHarness.core();
    const b = Buffer.from(invite);
    h.packet({ ...flow, seq: 5000, payload: b.subarray(0, 100) });
    h.packet({ ...flow, seq: 5000, payload: b.subarray(0, 100) });
    h.packet({ ...flow, payload: b.subarray(100) });
    const rec = await h.stop();
    assert.equal(rec.sip.length, 1);
    assert.equal(rec.sip[0]?.msg.callId, 'tcp-harness@test');
  });
});
