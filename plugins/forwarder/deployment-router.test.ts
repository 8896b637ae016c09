import * as assert from 'node:assert/strict';
import { ipv4, ipv6, udp } from '../../core/net/packet-builder';
import { LinkType } from '../../core/net/types';
import type { InterestEntry } from '../../core/net/forward-control';
import { DeploymentRouter } from './deployment-router';
import { newEnds, readEnds, type PacketEnds } from './packet-ends';
import type { RecorderLink } from './recorder-link';
import { ReplayArena } from './replay-ring';

/** What the router uses of a RecorderLink: whether it is up, since when, and send(). */
interface RouterLink {
  up: boolean;
  upSince: number;
  send(ts: number, ip: Buffer): boolean;
}

class FakeLink implements RouterLink {
  readonly sent: Array<{ ts: number; pkt: Buffer }> = [];
  /** false: the send queue is full. */
  accept = true;
  constructor(
    public up: boolean,
    public upSince = 1,
  ) {}
  send(ts: number, ip: Buffer): boolean {
    if (!this.up || !this.accept) return false;
    this.sent.push({ ts, pkt: ip });
    return true;
  }
  get ts(): number[] {
    return this.sent.map((s) => s.ts);
  }
}

const asLink = (l: FakeLink): RecorderLink => l as RouterLink as unknown as RecorderLink;

const US = 1_000_000;
const T0 = 1_767_225_600 * US;

function v4(src: string, sport: number, dst: string, dport: number, n = 0): Buffer {
  return ipv4(17, udp(sport, dport, Buffer.alloc(172, n & 0xff)), { src, dst, id: n & 0xffff });
}

function endsOf(ip: Buffer): PacketEnds {
  const e = newEnds();
  assert.equal(readEnds(LinkType.RAW, ip, e), undefined);
  return e;
}

interface Rig {
  r: DeploymentRouter;
  links: FakeLink[];
  budget: ReplayArena;
  /** Routes one packet a→b (matched as the agent does); false when it is of no interest. */
  packet(ts: number, ip: Buffer): boolean;
}

function rig(ups: boolean[], o: { keepUs?: number; statics?: string[]; staticEndpoints?: string[]; maxBytes?: number } = {}): Rig {
  const links = ups.map((u) => new FakeLink(u));
  const budget = new ReplayArena(o.maxBytes ?? 64 << 20);
  const r = new DeploymentRouter(5, links.map(asLink), o.statics ?? [], o.staticEndpoints ?? [], o.keepUs ?? 3 * US, budget);
  return {
    r,
    links,
    budget,
    packet(ts, ip) {
      const slot = r.match(endsOf(ip));
      if (slot === undefined) return false;
      r.route(slot, ts, ip);
      return true;
    },
  };
}

const entry = (call: string, rank: number, endpoints = ['10.0.0.1:4000']): InterestEntry => ({ call, endpoints, rank });
/** A packet of the call at 10.0.0.1:4000 (to it from its peer). */
const pkt = (n: number): Buffer => v4('10.0.0.2', 5000, '10.0.0.1', 4000, n);

describe('DeploymentRouter', () => {
  it('matches a packet by either end against the calls of interest (and nothing else)', () => {
    const { r, links } = rig([true]);
    r.call(asLink(links[0]!), entry('c1', 0, ['10.0.0.1:4000', '[2001:db8::1]:6000', 'bogus', '10.0.0.1:99999']));
    assert.equal(r.interestCalls, 1);
    assert.ok(r.match(endsOf(v4('10.0.0.2', 5000, '10.0.0.1', 4000))) !== undefined, 'to it');
    assert.ok(r.match(endsOf(v4('10.0.0.1', 4000, '10.0.0.2', 5000))) !== undefined, 'from it');
    assert.ok(r.match(endsOf(ipv6(17, udp(6000, 7000, Buffer.alloc(10)), { src: '2001:db8::1', dst: '2001:db8::2' }))) !== undefined, 'IPv6');
    assert.equal(r.match(endsOf(v4('10.0.0.2', 5000, '10.0.0.1', 4001))), undefined, 'another port');
    assert.equal(r.match(endsOf(v4('10.0.0.3', 4000, '10.0.0.4', 5000))), undefined, 'another address');
  });

  it('sends a call to the lowest rank among the recorders up that asked for it', () => {
    const { r, links, packet } = rig([true, true, true]);
    const [a, b, c] = links as [FakeLink, FakeLink, FakeLink];
    r.call(asLink(a), entry('c1', 1));
    r.call(asLink(b), entry('c1', 0));
    r.call(asLink(c), entry('c1', 2));
    for (let i = 0; i < 3; i++) assert.ok(packet(T0 + i * 20_000, pkt(i)));
    assert.deepEqual([a.sent.length, b.sent.length, c.sent.length], [0, 3, 0]);
    assert.equal(r.counts.forwarded, 3);

    // The rank-0 recorder is down when the next call starts: the rank-1 one takes it.
    b.up = false;
    r.linkDown(asLink(b));
    assert.equal(r.counts.failovers, 1, 'c1 moved');
    r.call(asLink(a), entry('c2', 1, ['10.0.0.7:4000']));
    r.call(asLink(c), entry('c2', 2, ['10.0.0.7:4000']));
    packet(T0 + 100_000, v4('10.0.0.2', 5000, '10.0.0.7', 4000));
    assert.equal(a.sent.at(-1)!.pkt.subarray(16, 20).join('.'), '10.0.0.7');
  });

  it('a recorder that is up but did not ask for the call is never sent it', () => {
    const { r, links, packet } = rig([true, true]);
    r.call(asLink(links[1]!), entry('c1', 2));
    // links[0] is up and silent about c1, but c1's best is rank 2 and the hold ends after 0.5 s
    packet(T0, pkt(0));
    packet(T0 + 600_000, pkt(1));
    assert.equal(links[0]!.sent.length, 0);
    assert.equal(links[1]!.sent.length, 2);
  });

  it('the choice sticks: a better recorder coming back up takes new calls, not the one in progress', () => {
    const { r, links, packet } = rig([false, true, true]);
    const [l0, l1, l2] = links as [FakeLink, FakeLink, FakeLink];
    r.call(asLink(l1), entry('c1', 1));
    r.call(asLink(l2), entry('c1', 2));
    packet(T0, pkt(0));
    assert.equal(l1.sent.length, 1);
    // Recorder 1 comes back (after the call began) and announces the call as its own.
    l0.up = true;
    l0.upSince = Date.now() + 1000;
    r.call(asLink(l0), entry('c1', 0));
    for (let i = 1; i < 5; i++) packet(T0 + i * 20_000, pkt(i));
    assert.deepEqual([l0.sent.length, l1.sent.length], [0, 5], 'c1 stays where it is');
    // A new call goes to it.
    r.call(asLink(l0), entry('c2', 0, ['10.0.0.8:4000']));
    r.call(asLink(l1), entry('c2', 1, ['10.0.0.8:4000']));
    packet(T0 + 200_000, v4('10.0.0.2', 5000, '10.0.0.8', 4000));
    assert.equal(l0.sent.length, 1);
    // When c1's recorder dies, c1 goes to a recorder that was up when it began (rank 2) before the late one.
    l1.up = false;
    r.linkDown(asLink(l1));
    assert.deepEqual([l0.sent.length, l2.sent.length], [1, 5], 'c1 replayed to recorder 3');
    packet(T0 + 300_000, pkt(9));
    assert.equal(l2.sent.length, 6);
  });

  it('the late recorder still takes the call when it is the only one left', () => {
    const { r, links, packet } = rig([false, true]);
    const [l0, l1] = links as [FakeLink, FakeLink];
    r.call(asLink(l1), entry('c1', 1));
    packet(T0, pkt(0));
    l0.up = true;
    l0.upSince = Date.now() + 1000;
    r.call(asLink(l0), entry('c1', 0));
    l1.up = false;
    r.linkDown(asLink(l1));
    assert.equal(l0.sent.length, 1);
  });

  it('on linkDown the calls move to the next recorder at once and the ring is replayed there, in order', () => {
    const { r, links, packet, budget } = rig([true, true], { keepUs: 3 * US });
    const [l0, l1] = links as [FakeLink, FakeLink];
    r.call(asLink(l0), entry('c1', 0));
    r.call(asLink(l1), entry('c1', 1));
    const sent: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      const p = pkt(i);
      sent.push(p);
      packet(T0 + i * 20_000, p);
    }
    assert.equal(l0.sent.length, 10);
    assert.ok(budget.bytes >= 10 * 172);
    l0.up = false;
    r.linkDown(asLink(l0));
    assert.equal(r.counts.failovers, 1);
    assert.equal(r.counts.replayed, 10);
    assert.deepEqual(l1.sent.map((s) => s.pkt), sent, 'the same packets, oldest first');
    assert.deepEqual(l1.ts, sent.map((_p, i) => T0 + i * 20_000));
    packet(T0 + 10 * 20_000, pkt(10));
    assert.equal(l1.sent.length, 11);
    assert.equal(r.counts.forwarded, 11, '10 to the first recorder, 1 to the second (replays apart)');
  });

  it('replays only the last keepUs of capture time', () => {
    const { r, links, packet } = rig([true, true], { keepUs: 100_000 });
    const [l0, l1] = links as [FakeLink, FakeLink];
    r.call(asLink(l0), entry('c1', 0));
    r.call(asLink(l1), entry('c1', 1));
    for (let i = 0; i <= 50; i++) packet(T0 + i * 20_000, pkt(i)); // 1 s of packets
    l0.up = false;
    r.linkDown(asLink(l0));
    assert.deepEqual(l1.ts, [45, 46, 47, 48, 49, 50].map((i) => T0 + i * 20_000));
    assert.equal(r.counts.replayed, 6);
  });

  it("holds a stand-in's packets while a recorder that is up has not spoken of the call; sends them all once the owner announces it", () => {
    const { r, links, packet } = rig([true, true]);
    const [own, standIn] = links as [FakeLink, FakeLink];
    r.call(asLink(standIn), entry('c1', 1));
    for (let i = 0; i < 5; i++) packet(T0 + i * 20_000, pkt(i));
    assert.deepEqual([own.sent.length, standIn.sent.length], [0, 0], 'held');
    assert.equal(r.counts.noRecorder, 0);
    r.call(asLink(own), entry('c1', 0));
    packet(T0 + 5 * 20_000, pkt(5));
    assert.deepEqual(own.ts, [0, 1, 2, 3, 4, 5].map((i) => T0 + i * 20_000), 'every held packet, once, in order');
    assert.equal(standIn.sent.length, 0);
    assert.equal(r.counts.forwarded, 6);
    assert.equal(r.counts.replayed, 0);
  });

  it('the hold ends after 0.5 s of capture time: the stand-in gets everything held', () => {
    const { r, links, packet } = rig([true, true]);
    const [own, standIn] = links as [FakeLink, FakeLink];
    r.call(asLink(standIn), entry('c1', 1));
    for (let i = 0; i <= 25; i++) packet(T0 + i * 20_000, pkt(i)); // 0 .. 500 ms: held
    assert.equal(standIn.sent.length, 0);
    packet(T0 + 520_000, pkt(26));
    assert.equal(standIn.sent.length, 27);
    assert.deepEqual(standIn.ts, Array.from({ length: 27 }, (_v, i) => T0 + i * 20_000));
    assert.equal(own.sent.length, 0);
  });

  it('no hold when the rank-0 recorder asked, or when the silent recorders are down', () => {
    const a = rig([true, true]);
    a.r.call(asLink(a.links[0]!), entry('c1', 0));
    a.packet(T0, pkt(0));
    assert.equal(a.links[0]!.sent.length, 1);
    const b = rig([false, true]);
    b.r.call(asLink(b.links[1]!), entry('c1', 1));
    b.packet(T0, pkt(0));
    assert.equal(b.links[1]!.sent.length, 1);
  });

  it('static entries go to the first recorder up in the configured order, survive interest changes, and fail over', () => {
    const { r, links, packet } = rig([false, true], { statics: ['10.9.9.9'], staticEndpoints: ['10.8.8.8:5000', '[2001:db8::8]:5000'] });
    const [l0, l1] = links as [FakeLink, FakeLink];
    assert.equal(r.interestCalls, 0, 'static entries are not calls');
    assert.ok(packet(T0, v4('10.0.0.2', 1234, '10.9.9.9', 7777)), 'any port of a static address');
    assert.ok(packet(T0, v4('10.9.9.9', 1, '10.0.0.2', 2)));
    assert.ok(packet(T0, v4('10.8.8.8', 5000, '10.0.0.2', 3000)), 'a static endpoint, as the source');
    assert.ok(!packet(T0, v4('10.8.8.8', 5001, '10.0.0.2', 3000)), 'another port of a static endpoint');
    assert.ok(packet(T0, ipv6(17, udp(4444, 5000, Buffer.alloc(20)), { src: '2001:db8::2', dst: '2001:db8::8' })));
    assert.equal(l1.sent.length, 4);
    // The first recorder comes up; interest comes and goes: static entries stay where they are.
    l0.up = true;
    l0.upSince = Date.now() + 1000;
    r.interest(asLink(l0), [entry('c1', 0)]);
    r.interest(asLink(l0), []);
    assert.ok(packet(T0 + 20_000, v4('10.0.0.2', 1234, '10.9.9.9', 7777)));
    assert.equal(l1.sent.length, 5);
    l1.up = false;
    r.linkDown(asLink(l1));
    assert.equal(r.counts.failovers, 3, 'each static entry moved');
    assert.ok(packet(T0 + 40_000, v4('10.0.0.2', 1234, '10.9.9.9', 7777)));
    assert.ok(l0.sent.length >= 1);
  });

  it('interest replaces what a recorder asked for; end forgets a call once no recorder asks for it', () => {
    const { r, links, packet, budget } = rig([true, true]);
    const [l0, l1] = links as [FakeLink, FakeLink];
    r.interest(asLink(l0), [entry('c1', 0, ['10.0.0.1:4000']), entry('c2', 0, ['10.0.0.5:4000'])]);
    r.call(asLink(l1), entry('c2', 1, ['10.0.0.5:4000']));
    assert.equal(r.interestCalls, 2);
    packet(T0, pkt(0));
    assert.ok(budget.bytes > 0);
    r.interest(asLink(l0), [entry('c2', 0, ['10.0.0.5:4000'])]);
    assert.equal(r.interestCalls, 1);
    assert.equal(r.match(endsOf(pkt(1))), undefined, 'c1 forgotten');
    r.end(asLink(l0), 'c2');
    assert.equal(r.interestCalls, 1, 'recorder 2 still asks for c2');
    // Recorder 1 is up and no longer asks for c2: held for up to 0.5 s, then sent to recorder 2.
    assert.ok(packet(T0, v4('10.0.0.2', 5000, '10.0.0.5', 4000)));
    assert.ok(packet(T0 + 600_000, v4('10.0.0.2', 5000, '10.0.0.5', 4000)));
    assert.equal(l1.sent.length, 2, 'now routed to the one that asks');
    r.end(asLink(l1), 'c2');
    assert.equal(r.interestCalls, 0);
    assert.equal(r.match(endsOf(v4('10.0.0.2', 5000, '10.0.0.5', 4000))), undefined);
  });

  it('linkDown forgets what the dead recorder asked for', () => {
    const { r, links } = rig([true, true]);
    r.call(asLink(links[0]!), entry('c1', 0));
    r.call(asLink(links[0]!), entry('c2', 0, ['10.0.0.5:4000']));
    r.call(asLink(links[1]!), entry('c2', 1, ['10.0.0.5:4000']));
    links[0]!.up = false;
    r.linkDown(asLink(links[0]!));
    assert.equal(r.interestCalls, 1);
    assert.equal(r.match(endsOf(pkt(0))), undefined);
  });

  it('no recorder up: counted, and what the ring kept goes to the first recorder that comes up', () => {
    const { r, links, packet } = rig([false, false], { statics: ['10.9.9.9'] });
    for (let i = 0; i < 3; i++) packet(T0 + i * 20_000, v4('10.0.0.2', 1, '10.9.9.9', 2, i));
    assert.equal(r.counts.noRecorder, 3);
    assert.equal(r.counts.forwarded, 0);
    links[1]!.up = true;
    packet(T0 + 60_000, v4('10.0.0.2', 1, '10.9.9.9', 2, 3));
    assert.equal(links[1]!.sent.length, 4);
  });

  it('a recorder whose send queue is full: the packet is not counted as forwarded', () => {
    const { r, links, packet } = rig([true]);
    r.call(asLink(links[0]!), entry('c1', 0));
    packet(T0, pkt(0));
    links[0]!.accept = false;
    packet(T0 + 20_000, pkt(1));
    assert.equal(r.counts.forwarded, 1);
  });

  describe('regressions (found by these tests, fixed)', () => {
    it('with replaySeconds 0 (no replay) every packet of a call is sent, its first included', () => {
      // route(): the packet is pushed to the ring (a no-op when keepUs is 0), then moveTo() sends the ring: nothing.
      const { r, links, packet } = rig([true], { keepUs: 0 });
      r.call(asLink(links[0]!), entry('c1', 0));
      packet(T0, pkt(0));
      packet(T0 + 20_000, pkt(1));
      assert.deepEqual(links[0]!.ts, [T0, T0 + 20_000], 'both packets forwarded');
    });

    it('when the replay budget is spent (replayMaxBytes), packets are still sent, the first included', () => {
      const { r, links, packet } = rig([true], { maxBytes: 100 }); // smaller than one packet
      r.call(asLink(links[0]!), entry('c1', 0));
      packet(T0, pkt(0));
      assert.equal(links[0]!.sent.length, 1);
    });

    it('a static endpoint that a call also names stays of interest when that call ends', () => {
      const { r, links, packet } = rig([true], { staticEndpoints: ['10.0.0.1:4000'] });
      assert.ok(r.match(endsOf(pkt(0))) !== undefined);
      r.call(asLink(links[0]!), entry('c1', 0, ['10.0.0.1:4000']));
      r.end(asLink(links[0]!), 'c1');
      assert.ok(packet(T0, pkt(1)), 'the static endpoint is still of interest');
    });
  });
});
