import * as assert from 'node:assert/strict';
import { sipPathOf } from './feed-addresses';
import { parseSipMessage } from './parser';

const feeder = { address: '10.9.9.9', port: 50000, transport: 'tcp' };

function msg(lines: string[]): ReturnType<typeof parseSipMessage> {
  const first = lines[0] as string;
  const method = first.startsWith('SIP/') ? 'INVITE' : first.slice(0, first.indexOf(' '));
  return parseSipMessage(Buffer.from([...lines, `CSeq: 1 ${method}`, 'Content-Length: 0', '', ''].join('\r\n')), { transport: 'stream', lenient: true });
}

const common = ['From: <sip:alice@contoso.com>;tag=a', 'To: <sip:bob@contoso.com>', 'Call-ID: c1'];

describe('SIP feed addresses (where a plain SIP message travelled, from the message alone)', () => {
  it('a request goes from its top Via to its Request-URI', () => {
    const p = sipPathOf(msg(['INVITE sip:bob@192.0.2.20:5070 SIP/2.0', 'Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK1', 'Via: SIP/2.0/TLS 192.0.2.1;branch=z9hG4bK0', ...common]), feeder);
    assert.deepEqual(p, { src: '192.0.2.10', sport: 5061, dst: '192.0.2.20', dport: 5070, transport: 'tls' });
  });

  it('prefers received and rport (RFC 3581) over the sent-by, and maddr over the Request-URI host', () => {
    const p = sipPathOf(msg(['BYE sip:bob@pool.contoso.com;maddr=192.0.2.30;transport=tcp SIP/2.0', 'Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bK1;received=198.51.100.4;rport=40312', ...common]), feeder);
    assert.deepEqual(p, { src: '198.51.100.4', sport: 40312, dst: '192.0.2.30', dport: 5060, transport: 'tcp' });
  });

  it('fills default ports: 5060, 5061 for TLS and sips:, an empty rport is ignored', () => {
    const p = sipPathOf(msg(['INVITE sips:bob@192.0.2.20 SIP/2.0', 'Via: SIP/2.0/TLS 192.0.2.10;branch=z9hG4bK1;rport', ...common]), feeder);
    assert.deepEqual(p, { src: '192.0.2.10', sport: 5061, dst: '192.0.2.20', dport: 5061, transport: 'tls' });
    const q = sipPathOf(msg(['OPTIONS sip:192.0.2.20 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1', ...common]), feeder);
    assert.deepEqual([q.sport, q.dport, q.transport], [5060, 5060, 'udp']);
  });

  it('handles IPv6 hosts and received values with or without brackets', () => {
    const p = sipPathOf(msg(['INVITE sip:bob@[2001:db8::20]:5080 SIP/2.0', 'Via: SIP/2.0/TCP [2001:db8::10]:5062;branch=z9hG4bK1;received=[2001:db8::99]', ...common]), feeder);
    assert.deepEqual(p, { src: '2001:db8::99', sport: 5062, dst: '2001:db8::20', dport: 5080, transport: 'tcp' });
  });

  it('a response goes to its top Via and comes from its Contact', () => {
    const p = sipPathOf(msg(['SIP/2.0 200 OK', 'Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK1;received=198.51.100.4;rport=40312', ...common, 'Contact: <sip:bob@192.0.2.20:5070;transport=tls>']), feeder);
    assert.deepEqual(p, { src: '192.0.2.20', sport: 5070, dst: '198.51.100.4', dport: 40312, transport: 'tls' });
  });

  it('an end the message does not name is the feeder (a response without Contact, a tel: Request-URI)', () => {
    const r = sipPathOf(msg(['SIP/2.0 100 Trying', 'Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK1', ...common]), feeder);
    assert.deepEqual(r, { src: '10.9.9.9', sport: 50000, dst: '192.0.2.10', dport: 5060, transport: 'tcp' });
    const t = sipPathOf(msg(['INVITE tel:+15551234 SIP/2.0', 'Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK1', ...common]), feeder);
    assert.deepEqual([t.dst, t.dport], ['10.9.9.9', 50000]);
  });
});
