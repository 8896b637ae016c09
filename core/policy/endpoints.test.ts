/** Endpoint IPs: configured ones fixed, 0.0.0.0 learned from SDPs and Contacts, disallowed IPs never, newest wins. */
import * as assert from 'node:assert/strict';
import { EndpointDirectory, learnsEndpoint, sdpHostAddresses } from './endpoints';
import { UserDirectory, type UserEntry } from './users';
import { CounterSet } from '../counters';
import { parseSdp } from '../sdp/index';
import { parseSipMessage } from '../sip/parser';
import { PluginHarness } from '../testing/index';
import { Tokens } from '../tokens';
import { lyncSingleSdp } from '../../plugins/source-generator/sdp-builder';
import { request, response, sdp } from '../../test/sip-text';

const S = 1_000_000;
const user = (uri: string, endpointIp: string, call = true): UserEntry => ({ uri, call, chat: false, endpointIp });
const USERS = new UserDirectory([
  user('sip:alice@contoso.com', '0.0.0.0'),
  user('sip:bob@contoso.com', '10.1.0.6'),
  user('sip:ts1@contoso.com', '10.20.0.50'),
  user('sip:ts2@contoso.com', '10.20.0.50', false),
  user('sip:kiosk@contoso.com', '10.0.0.10'),
  user('sip:v6@contoso.com', '::'),
]);
const DISALLOWED = ['10.0.0.10', '198.51.100.10'];

function lyncSdp(ip: string, port: number): string {
  return lyncSingleSdp({
    user: '-', sessionId: 1, version: 0, ip, port, codec: 'PCMU', payloadType: 0, ptimeMs: 20, direction: 'sendrecv', ssrc: 1,
    ufrag: 'abcd', pwd: 'p'.repeat(24), cryptoKey: 'k'.repeat(40), srflx: { ip: '203.0.113.9', port: 40000 }, relay: { ip: '198.51.100.10', port: 50000 },
    ipv6: 'fd00::5', v6User: 'u'.repeat(32), v6Pwd: 'w'.repeat(22), offer: false,
  }); // prettier-ignore
}

describe('EndpointDirectory', () => {
  it('configured IPs are fixed and need not be unique; a disallowed configured IP is refused with a problem', () => {
    const d = new EndpointDirectory(USERS, { disallowedIps: DISALLOWED });
    assert.equal(d.ipOf('bob@contoso.com'), '10.1.0.6');
    assert.equal(d.sourceOf('sip:bob@contoso.com'), 'configured');
    assert.deepEqual(d.usersAt('10.20.0.50').map((u) => u.uri), ['sip:ts1@contoso.com', 'sip:ts2@contoso.com']);
    assert.deepEqual(d.usersAt('10.0.0.10'), []);
    assert.equal(d.sourceOf('sip:kiosk@contoso.com'), 'disallowed');
    assert.deepEqual(d.problems, ['user sip:kiosk@contoso.com: endpoint IP 10.0.0.10 is in policy.disallowedIps; it is not associated with the user']);
    assert.equal(d.observe('sip:bob@contoso.com', ['10.9.9.9'], S, 'sdp'), false, 'a configured IP is never overwritten');
    assert.equal(d.ipOf('sip:bob@contoso.com'), '10.1.0.6');
    assert.equal(d.sourceOf('sip:alice@contoso.com'), 'unknown');
    assert.ok(learnsEndpoint(user('x@y', '::')) && learnsEndpoint(user('x@y', '0.0.0.0')) && !learnsEndpoint(user('x@y', '10.0.0.1')));
  });

  it('learns from an SDP its c= address and host candidates, never srflx, relay or disallowed addresses', () => {
    const counters = new CounterSet();
    const d = new EndpointDirectory(USERS, { disallowedIps: DISALLOWED, counters });
    const s = parseSdp(lyncSdp('10.1.0.5', 27100));
    assert.deepEqual(sdpHostAddresses(s), ['10.1.0.5', 'fd00::5']);
    assert.ok(d.observeSdp('sip:alice@contoso.com', s, S));
    assert.equal(d.ipOf('sip:alice@contoso.com'), '10.1.0.5');
    assert.deepEqual(d.addressesOf('sip:alice@contoso.com'), ['10.1.0.5', 'fd00::5']);
    assert.deepEqual(d.usersAt('fd00:0:0::5').map((u) => u.uri), ['sip:alice@contoso.com'], 'IPv6 compared canonically');
    // A remote user's SDP whose c= is the Edge relay: the relay is disallowed, nothing is learned from it.
    assert.equal(d.observeSdp('sip:alice@contoso.com', parseSdp(sdp('198.51.100.10', 50000)), 5 * S), false);
    assert.equal(d.ipOf('sip:alice@contoso.com'), '10.1.0.5');
    assert.equal(counters.get('endpoints.disallowedIgnored'), 1);
    // Old-style hold (c=0.0.0.0) and loopback say nothing about where the user is.
    assert.equal(d.observe('sip:alice@contoso.com', ['0.0.0.0', '127.0.0.1'], 6 * S, 'sdp'), false);
    assert.equal(counters.get('endpoints.learned'), 1);
  });

  it('keeps up to date: the newest sighting wins, addresses seen with it (within 2 s) stay, older ones go', () => {
    const counters = new CounterSet();
    const d = new EndpointDirectory(USERS, { disallowedIps: DISALLOWED, counters, historySize: 3 });
    d.observe('sip:alice@contoso.com', ['10.1.0.5'], 10 * S, 'contact');
    d.observe('sip:alice@contoso.com', ['10.1.0.55'], 10.5 * S, 'sdp'); // a second PC ringing with the first
    assert.deepEqual(d.addressesOf('sip:alice@contoso.com'), ['10.1.0.55', '10.1.0.5']);
    assert.deepEqual(d.usersAt('10.1.0.5').map((u) => u.uri), ['sip:alice@contoso.com']);
    d.observe('sip:alice@contoso.com', ['10.9.0.77'], 60 * S, 'sdp'); // she moved
    assert.equal(d.ipOf('sip:alice@contoso.com'), '10.9.0.77');
    assert.deepEqual(d.addressesOf('sip:alice@contoso.com'), ['10.9.0.77']);
    assert.deepEqual(d.usersAt('10.1.0.5'), []);
    assert.deepEqual(d.usersAt('10.1.0.55'), []);
    d.observe('sip:alice@contoso.com', ['10.9.0.77'], 70 * S, 'contact');
    assert.deepEqual(d.history('sip:alice@contoso.com').map((h) => h.ips[0]), ['10.1.0.55', '10.9.0.77', '10.9.0.77'], 'bounded history, oldest dropped');
    assert.equal(counters.get('endpoints.moved'), 2);
    assert.equal(d.observe('sip:v6@contoso.com', ['2001:DB8::1'], 1, 'sdp'), true, "'::' learns too");
    assert.equal(d.ipOf('v6@contoso.com'), '2001:db8::1');
  });

  it('an MCU URI carrying its organizer (opaque=app:conf) is not the organizer', () => {
    const d = new EndpointDirectory(USERS, { disallowedIps: DISALLOWED });
    assert.equal(d.observe('sip:alice@contoso.com;gruu;opaque=app:conf:audio-video:id:K7Q2', ['10.0.0.12'], S, 'sdp'), false);
    assert.equal(d.ipOf('sip:alice@contoso.com'), undefined);
    assert.equal(d.ipOf('sip:alice@contoso.com;gruu;opaque=app:conf:audio-video:id:K7Q2'), undefined);
    assert.equal(USERS.lookup('<sip:alice@contoso.com;gruu;opaque=app:conf:focus:id:K7Q2>'), undefined);
    assert.equal(USERS.lookup('<sip:alice@contoso.com;opaque=user:epid:abc;gruu>')?.uri, 'sip:alice@contoso.com', "her own endpoint's GRUU is her");
  });

  it("learns from IP Contacts: a request's for its From, an INVITE answer's for its To; not GRUUs, NOTIFYs or 100s", () => {
    const d = new EndpointDirectory(USERS, { disallowedIps: DISALLOWED });
    const meta = { ts: S, src: '10.1.0.5', sport: 5061, dst: '10.0.0.10', dport: 5061, transport: 'udp' };
    const msg = (text: string) => parseSipMessage(Buffer.from(text));
    const fromAlice = { from: '<sip:alice@contoso.com>', to: '<sip:bob@contoso.com>' };
    assert.ok(!d.observeMessage(msg(request('NOTIFY', { ...fromAlice, headers: ['Contact: <sip:10.1.0.7:5061>'] }).replace(/Contact: <sip:alice@10\.0\.0\.1:5060>\r\n/, '')), meta));
    const gruu = request('INVITE', fromAlice).replace('Contact: <sip:alice@10.0.0.1:5060>', 'Contact: <sip:alice@contoso.com;opaque=user:epid:abc;gruu>');
    assert.equal(d.observeMessage(msg(gruu), meta), false, 'a GRUU names no host');
    assert.ok(d.observeMessage(msg(request('INVITE', fromAlice)), meta), 'the INVITE Contact (sip:alice@10.0.0.1) is the From’s');
    assert.equal(d.ipOf('sip:alice@contoso.com'), '10.0.0.1');
    const answer = (status: number) => response(status, 'X', 'INVITE', { from: '<sip:bob@contoso.com>', to: '<sip:alice@contoso.com>', toTag: 't', headers: ['Contact: <sip:10.1.0.44:5061;transport=tls>'] });
    assert.equal(d.observeMessage(msg(answer(100)), { ...meta, ts: 2 * S }), false);
    assert.ok(d.observeMessage(msg(answer(200)), { ...meta, ts: 5 * S }));
    assert.equal(d.ipOf('sip:alice@contoso.com'), '10.1.0.44');
  });

  it('in the kernel: registered under Tokens.Endpoints, fed by the SIP the pipeline sees', async () => {
    const h = await PluginHarness.core({ config: { users: [{ uri: 'sip:alice@contoso.com', endpointIp: '0.0.0.0' }, { uri: 'sip:bob@contoso.com', endpointIp: '10.1.0.6' }], policy: { disallowedIps: ['10.0.0.10'] } } });
    const ep = h.resolveAll(Tokens.Endpoints)[0] ?? h.kernel.root.resolve(Tokens.Endpoints);
    assert.equal(ep, h.kernel.endpoints);
    const A = { src: '10.0.0.10', sport: 5061, dst: '10.0.0.20', dport: 5061 };
    h.sip(request('INVITE', { from: '<sip:alice@contoso.com>', body: sdp('10.1.0.5', 27100) }).replace('Contact: <sip:alice@10.0.0.1:5060>', 'Contact: <sip:alice@10.0.0.10:5060>'), { ...A, ts: S });
    assert.equal(h.kernel.endpoints.ipOf('sip:alice@contoso.com'), '10.1.0.5', "her SDP's c=, not the Front End in her Contact");
    assert.equal(h.counters()['core.endpoints.disallowedIgnored'], 1);
    await h.stop();
  });
});
