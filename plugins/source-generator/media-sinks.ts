/**
 * Where a call's RTP goes when it is not written as plain UDP: SRTP-protected with the sender's own SDP key
 * (protectMedia), and/or wrapped in TURN on the remote party's leg to the Edge (a TURN mediaPath).
 */
import type { CallPlan } from './call-plan';
import { EdgeLeg } from './edge-leg';
import { UDP_FRAME_OVERHEAD, UdpHeaderTemplate } from './net-frames';
import type { RecordSink, RtpPacketSink } from './rtp-builder';
import type { ResolvedScenario } from './scenario';
import { SrtpProtector } from './srtp-protect';
import type { Direction } from './tones';

export interface CallSinks {
  /** The call's Edge leg (an actor for the heap), on a TURN path. */
  edge: EdgeLeg | undefined;
  /** The sink of one direction, or undefined for plain UDP frames (RtpFlowWriter's fast path). */
  of(dir: Direction): RtpPacketSink | undefined;
}

export function mediaSinks(s: ResolvedScenario, plan: CallPlan, out: RecordSink, order: number, edgeDone: (lastT: number) => void): CallSinks {
  const edge = plan.edge === undefined || plan.truth.edge === undefined ? undefined : new EdgeLeg(plan.edge, out, order, plan.truth.edge, s.mtu, edgeDone);
  const keys = plan.truth.srtp;
  const protector = (dir: Direction): ((rtp: Buffer) => Buffer) | undefined => {
    if (!s.protectMedia || keys === undefined) return undefined;
    const k = keys[dir];
    const p = new SrtpProtector(k.keySalt, Buffer.from(k.mki ?? '', 'hex'));
    return (rtp) => p.protect(rtp);
  };
  return {
    edge,
    of(dir) {
      const protect = protector(dir);
      if (edge !== undefined) return edge.sink(dir, protect);
      if (protect === undefined) return undefined;
      const sp = plan.streams.find((x) => x.dir === dir);
      if (sp === undefined) return undefined;
      const udp = new UdpHeaderTemplate(sp.src.ip, sp.src.port, sp.dst.ip, sp.dst.port);
      let ipId = sp.seed & 0xffff;
      return {
        packet(o, t, rtp) {
          const srtp = protect(rtp);
          const off = o.beginRecord(t, UDP_FRAME_OVERHEAD + srtp.length);
          udp.write(o.buf, off, srtp.length, ipId);
          ipId = (ipId + 1) & 0xffff;
          srtp.copy(o.buf, off + UDP_FRAME_OVERHEAD);
        },
      };
    },
  };
}
