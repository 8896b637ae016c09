/**
 * The SIPREC recording server (SRS, RFC 7866) as a user agent server, independent of the transport it is reached
 * over: recording sessions opened by INVITE, changed by re-INVITE or UPDATE (streams, participants, metadata only),
 * ended by BYE or CANCEL; OPTIONS answered for keepalives. Each session gets media ports of its own and its SRC's
 * streams are handed to the core as media datagrams; its INVITE and the server's answer go to the core as SIP, with
 * what the metadata says (CallAnnotation): from there a SIPREC recording is a recording like any other.
 *
 * Transactions are kept to what an SRS needs: over UDP a 2xx to INVITE is retransmitted until the ACK (RFC 3261
 * §13.3.1.4: T1 doubling up to T2, given up after 64·T1) and a retransmitted request gets the same answer again;
 * over TCP and TLS nothing is retransmitted.
 */
import { randomBytes } from 'node:crypto';
import type { CallAnnotation, IngestSink } from '../../core/contracts/ingest';
import type { CounterMetric, Logger } from '../../core/contract';
import type { AllowList } from '../../core/net/allow-list';
import { parseSdp } from '../../core/sdp/index';
import type { SdpSession } from '../../core/sdp/types';
import { parseSipMessage } from '../../core/sip/index';
import type { SipMessage, SipRequest } from '../../core/sip/types';
import { buildAnswer, chooseCrypto, refusal, type AnswerLine } from './answer';
import { BodyError, splitRecordingBody } from './body';
import { mergeMetadata, MetadataError, parseRecordingMetadata, type RecordingMetadata } from './metadata';
import { sessionParties, type SessionParties } from './parties';
import { PortPool, type PortPair } from './rtp-ports';
import type { DigestAuth } from './digest';
import { buildResponse } from './sip-response';

/** Where a message came from and how to answer it. */
export interface SipTransport {
  kind: 'udp' | 'tcp' | 'tls';
  peer: { address: string; port: number };
  /** The port it reached (the address is the server's media/advertised address). */
  localPort: number;
  send(data: Buffer): void;
}

export interface RecordingServerOptions {
  /** The address put in SDP answers and Contact, and bound by the media ports. */
  mediaAddress: string;
  rtpPortMin: number;
  rtpPortMax: number;
  /** Besides each session's SRC (its SDP and signalling addresses), who may send to the media ports. */
  allow: AllowList;
  maxSessions: number;
  /** A session with neither SIP nor media for this long is closed (its BYE was lost). */
  idleTimeoutSec: number;
  /** Media ports stay open this long after BYE, for trailing packets. */
  lingerMs: number;
  /** SIP digest authentication of new sessions (none: the allow-list and TLS decide alone). */
  digest?: DigestAuth;
}

export interface RecordingServerDeps {
  sink: IngestSink;
  log: Logger;
  /** tapline_siprec_sessions_total{result}. */
  sessions: CounterMetric;
  source: string;
}

/** Option tags the server supports in Require (RFC 3261 §8.2.2.3). */
const SUPPORTED = new Set(['siprec', 'timer', 'replaces', '100rel']);
const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO';
const ACCEPT = 'application/sdp, application/rs-metadata+xml, application/rs-metadata, multipart/mixed';
const T1 = 500;
const T2 = 4000;

interface PendingAnswer {
  branch: string;
  response: Buffer;
  timer?: NodeJS.Timeout;
  interval: number;
  sentAt: number;
}

interface Session {
  key: string;
  callId: string;
  fromTag: string;
  toTag: string;
  transport: SipTransport;
  offer: SdpSession;
  ports: Array<PortPair | undefined>;
  version: number;
  metadata: RecordingMetadata | undefined;
  parties: SessionParties;
  lastActivity: number;
  /** A 2xx to INVITE sent over UDP and not yet acknowledged. */
  pending?: PendingAnswer;
  /** The answer to each request branch seen (retransmissions get it again). */
  answered: Map<string, Buffer>;
  closed: boolean;
  /** SRC media addresses (the offer's c= lines): allowed to send to the session's ports. */
  mediaFrom: Set<string>;
}

/** An INVITE being answered (ports are opened asynchronously): a retransmission or CANCEL finds it here. */
interface Opening {
  branch: string;
  trying: Buffer;
  cancelled: boolean;
}

function branchOf(msg: SipMessage): string {
  const b = msg.via[0]?.params.branch;
  return typeof b === 'string' ? b : `${msg.callId}|${msg.cseq.seq}|${msg.cseq.method}`;
}

function tagOf(v: string | null | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class RecordingServer {
  private readonly sessions = new Map<string, Session>();
  private readonly opening = new Map<string, Opening>();
  private readonly pool: PortPool;
  private readonly sweep: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly opts: RecordingServerOptions,
    private readonly deps: RecordingServerDeps,
  ) {
    this.pool = new PortPool(opts.mediaAddress, opts.rtpPortMin, opts.rtpPortMax);
    this.sweep = setInterval(() => this.closeIdle(), Math.min(10_000, Math.max(1000, (opts.idleTimeoutSec * 1000) / 4)));
    this.sweep.unref();
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** One SIP message from the network; never throws. */
  onMessage(raw: Buffer, t: SipTransport, parsed?: SipMessage): void {
    let msg: SipMessage;
    try {
      msg = parsed ?? parseSipMessage(raw, { transport: t.kind === 'udp' ? 'udp' : 'stream', lenient: true });
    } catch (e) {
      this.deps.sink.drop('parse', 'siprec-sip');
      this.deps.log.debug(`${this.deps.source}: unreadable SIP from ${hostPort(t.peer.address, t.peer.port)}: ${(e as Error).message}`);
      return;
    }
    if (msg.kind === 'response') return; // the server sends no requests that responses could answer
    try {
      this.onRequest(msg, raw, t);
    } catch (e) {
      this.deps.log.error(`${this.deps.source}: ${msg.method} from ${hostPort(t.peer.address, t.peer.port)} failed: ${(e as Error).message}`);
      this.reply(t, buildResponse(msg, 500, undefined, { headers: [`Warning: 399 tapline "${(e as Error).message.slice(0, 200).replace(/"/g, "'")}"`] }));
    }
  }

  /** Closes every session's media ports and timers (the core finishes their recordings). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.sweep);
    for (const s of this.sessions.values()) this.close(s, 'recorder stopping', 0);
  }

  // ---------------------------------------------------------------------------------------------

  private onRequest(req: SipRequest, raw: Buffer, t: SipTransport): void {
    const fromTag = tagOf(req.from.params.tag);
    const toTag = tagOf(req.to.params.tag);
    const session = fromTag === undefined ? undefined : this.sessions.get(`${req.callId}|${fromTag}`);
    switch (req.method) {
      case 'OPTIONS':
        return this.reply(t, buildResponse(req, 200, undefined, { headers: [`Allow: ${ALLOW}`, `Accept: ${ACCEPT}`, 'Supported: siprec'] }));
      case 'INVITE':
        if (toTag === undefined) return void this.invite(req, raw, t);
        if (session === undefined || session.toTag !== toTag) return this.reply(t, buildResponse(req, 481));
        return void this.reinvite(session, req, raw, t);
      case 'UPDATE':
        if (session === undefined || session.toTag !== toTag) return this.reply(t, buildResponse(req, 481));
        return void this.reinvite(session, req, raw, t);
      case 'ACK':
        if (session?.pending !== undefined && session.pending.branch !== '') this.acknowledged(session);
        if (session !== undefined) session.lastActivity = Date.now();
        return;
      case 'BYE':
        if (session === undefined || session.toTag !== toTag) return this.reply(t, buildResponse(req, 481));
        return this.bye(session, req, raw, t);
      case 'CANCEL':
        return this.cancel(req, t);
      case 'INFO':
        if (session === undefined) return this.reply(t, buildResponse(req, 481));
        session.lastActivity = Date.now();
        return this.reply(t, buildResponse(req, 200, undefined, { toTag: session.toTag }));
      default:
        return this.reply(t, buildResponse(req, 405, undefined, { headers: [`Allow: ${ALLOW}`] }));
    }
  }

  private reply(t: SipTransport, data: Buffer): void {
    t.send(data);
  }

  /** The SIP the core sees: the request as received and the server's answer, both with the session's annotation. */
  private ingest(req: Buffer, res: Buffer | undefined, t: SipTransport, annotation: CallAnnotation | undefined): void {
    const now = Date.now() * 1000;
    const origin = `siprec ${t.kind} ${hostPort(t.peer.address, t.peer.port)}`;
    const local = { dst: this.opts.mediaAddress, dport: t.localPort };
    this.deps.sink.sip({ ts: now, src: t.peer.address, sport: t.peer.port, ...local, transport: t.kind, data: req, origin, ...(annotation !== undefined ? { annotation } : {}) });
    if (res !== undefined) this.deps.sink.sip({ ts: now + 1, src: local.dst, sport: local.dport, dst: t.peer.address, dport: t.peer.port, transport: t.kind, data: res, origin });
  }

  private refuse(req: SipRequest, t: SipTransport, status: number, why: string, extra: string[] = []): void {
    this.deps.sessions.inc({ result: `refused-${status}` });
    this.deps.log.warn(`${this.deps.source}: ${req.method} ${req.callId} from ${hostPort(t.peer.address, t.peer.port)} refused with ${status}: ${why}`);
    this.reply(t, buildResponse(req, status, undefined, { toTag: this.newTag(), headers: [...extra, `Warning: 399 tapline "${why.replace(/"/g, "'").slice(0, 300)}"`] }));
  }

  private newTag(): string {
    return randomBytes(6).toString('hex');
  }

  /** What a (re-)INVITE or UPDATE carries: its SDP parsed and its metadata read; undefined when refused. */
  private readBody(req: SipRequest, t: SipTransport): { sdp?: SdpSession; metadata?: RecordingMetadata; warnings: string[] } | undefined {
    let body;
    try {
      body = splitRecordingBody(req);
    } catch (e) {
      if (e instanceof BodyError) {
        this.refuse(req, t, e.status, e.message, e.status === 415 ? [`Accept: ${ACCEPT}`] : []);
        return undefined;
      }
      throw e;
    }
    const out: { sdp?: SdpSession; metadata?: RecordingMetadata; warnings: string[] } = { warnings: body.warnings };
    if (body.sdp !== undefined) {
      try {
        out.sdp = parseSdp(body.sdp);
      } catch (e) {
        this.refuse(req, t, 400, `the SDP cannot be read: ${(e as Error).message}`);
        return undefined;
      }
    }
    if (body.metadata !== undefined) {
      try {
        out.metadata = parseRecordingMetadata(body.metadata);
      } catch (e) {
        if (e instanceof MetadataError) {
          this.refuse(req, t, 400, e.message);
          return undefined;
        }
        throw e;
      }
    }
    return out;
  }

  private unsupportedRequire(req: SipRequest): string[] {
    const tags = req.headers.getAll('Require').flatMap((v) => v.split(',').map((x) => x.trim().toLowerCase()));
    return tags.filter((x) => x !== '' && !SUPPORTED.has(x));
  }

  private async invite(req: SipRequest, raw: Buffer, t: SipTransport): Promise<void> {
    const branch = branchOf(req);
    const open = this.opening.get(branch);
    if (open !== undefined) return this.reply(t, open.trying);
    const fromTag = tagOf(req.from.params.tag);
    if (fromTag === undefined) return this.refuse(req, t, 400, 'the INVITE has no From tag');
    const key = `${req.callId}|${fromTag}`;
    const known = this.sessions.get(key);
    if (known !== undefined) {
      // A retransmitted initial INVITE: the same answer again.
      const again = known.answered.get(branch);
      if (again !== undefined) this.reply(t, again);
      return;
    }
    if (this.stopped) return this.refuse(req, t, 503, 'the recorder is stopping');
    const digest = this.opts.digest;
    if (digest !== undefined) {
      const v = digest.verify(req);
      if (!v.ok) {
        if (v.reason === 'no credentials' || v.stale) {
          // The challenge is the normal first answer: not a refusal worth a warning.
          this.deps.sessions.inc({ result: 'challenged' });
          return this.reply(t, buildResponse(req, 401, undefined, { toTag: this.newTag(), headers: digest.challenge(v.stale) }));
        }
        this.deps.sink.drop('auth', 'siprec-digest');
        return this.refuse(req, t, 403, `digest authentication failed: ${v.reason}`);
      }
    }
    const unsupported = this.unsupportedRequire(req);
    if (unsupported.length > 0) return this.refuse(req, t, 420, `unsupported extension ${unsupported.join(', ')}`, [`Unsupported: ${unsupported.join(', ')}`]);
    const body = this.readBody(req, t);
    if (body === undefined) return;
    const sdp = body.sdp;
    if (sdp === undefined) return this.refuse(req, t, 488, 'a recording session needs an SDP offer (offerless INVITEs are not supported)');
    const marked = /\bsiprec\b/i.test(req.headers.getAll('Require').join(',')) || (req.contact ?? []).some((c) => '+sip.src' in c.params) || body.metadata !== undefined;
    const sendonly = sdp.media.some((m) => m.type === 'audio' && m.port !== 0) && sdp.media.every((m) => m.type !== 'audio' || m.port === 0 || m.direction === 'sendonly' || m.direction === 'inactive');
    if (!marked && !sendonly) return this.refuse(req, t, 488, 'not a recording session: no Require: siprec, no +sip.src in Contact, no recording metadata, and the SDP is not send-only');
    if (this.sessions.size + this.opening.size >= this.opts.maxSessions) return this.refuse(req, t, 503, `already ${this.opts.maxSessions} recording sessions (source-siprec maxSessions)`, ['Retry-After: 5']);
    const reasons = sdp.media.map((m) => refusal(m));
    if (reasons.every((r) => r !== undefined)) return this.refuse(req, t, 488, `no stream the recorder can take: ${reasons.map((r, i) => `m-line ${i + 1}: ${r}`).join('; ')}`);

    const toTag = this.newTag();
    const trying = buildResponse(req, 100);
    const opening: Opening = { branch, trying, cancelled: false };
    this.opening.set(branch, opening);
    this.reply(t, trying);
    let ports: Array<PortPair | undefined>;
    const mediaFrom = new Set<string>([t.peer.address]);
    for (const m of sdp.media) if (m.connection !== undefined) mediaFrom.add(m.connection.address);
    const session: Partial<Session> = {};
    try {
      ports = await this.openPorts(sdp, reasons, [], mediaFrom, () => session as Session);
    } catch (e) {
      this.opening.delete(branch);
      return this.refuse(req, t, 503, (e as Error).message, ['Retry-After: 5']);
    }
    this.opening.delete(branch);
    if (opening.cancelled || this.stopped) {
      for (const p of ports) p?.close();
      this.reply(t, buildResponse(req, 487, undefined, { toTag }));
      this.deps.sessions.inc({ result: 'cancelled' });
      return;
    }
    const parties = sessionParties(req, sdp, body.metadata, undefined);
    if (body.warnings.length > 0) parties.annotation.warnings = [...(parties.annotation.warnings ?? []), ...body.warnings];
    Object.assign(session, {
      key,
      callId: req.callId,
      fromTag,
      toTag,
      transport: t,
      offer: sdp,
      ports,
      version: 1,
      metadata: body.metadata,
      parties,
      lastActivity: Date.now(),
      answered: new Map(),
      closed: false,
      mediaFrom,
    } satisfies Session);
    const s = session as Session;
    this.sessions.set(key, s);
    const res = this.answer(s, req, sdp);
    s.answered.set(branch, res);
    this.reply(t, res);
    if (t.kind === 'udp') this.retransmit(s, branch, res);
    this.deps.sessions.inc({ result: 'accepted' });
    this.ingest(raw, res, t, parties.annotation);
    const taken = ports.filter((p) => p !== undefined).length;
    this.deps.log.info(`${this.deps.source}: recording session ${req.callId} from ${hostPort(t.peer.address, t.peer.port)}: ${taken} stream(s)`, { callId: req.callId, participants: parties.annotation.facts?.participants });
  }

  /** Ports for the offered m-lines: kept where a stream was already open, opened for new ones, none for refused. */
  private async openPorts(sdp: SdpSession, reasons: ReadonlyArray<string | undefined>, old: ReadonlyArray<PortPair | undefined>, mediaFrom: Set<string>, session: () => Session): Promise<Array<PortPair | undefined>> {
    const out: Array<PortPair | undefined> = [];
    try {
      for (let i = 0; i < sdp.media.length; i++) {
        if (reasons[i] !== undefined) {
          out.push(undefined);
          continue;
        }
        const was = old[i];
        if (was !== undefined) {
          out.push(was);
          continue;
        }
        out.push(
          await this.pool.open(
            (d) => {
              const s = session();
              s.lastActivity = Date.now();
              const ts = (performance.timeOrigin + performance.now()) * 1000;
              this.deps.sink.media({ ts, proto: 'udp', src: d.src, sport: d.sport, dst: this.opts.mediaAddress, dport: d.dport, payload: d.payload });
            },
            (src) => mediaFrom.has(src) || this.opts.allow.allows(src),
            () => this.deps.sink.drop('auth', 'siprec-media-not-from-src'),
          ),
        );
      }
    } catch (e) {
      for (let i = 0; i < out.length; i++) if (out[i] !== undefined && out[i] !== old[i]) out[i]?.close();
      throw e;
    }
    return out;
  }

  private answer(s: Session, req: SipRequest, sdp: SdpSession): Buffer {
    const lines: AnswerLine[] = sdp.media.map((m, i) => {
      const p = s.ports[i];
      if (p === undefined) return { port: 0 };
      const c = /SAVP/i.test(m.proto) ? chooseCrypto(m) : undefined;
      return c === undefined ? { port: p.rtp } : { port: p.rtp, crypto: { tag: c.tag, suite: c.suite } };
    });
    const text = buildAnswer(sdp, lines, this.opts.mediaAddress, s.toTag.slice(0, 8).replace(/[^0-9a-f]/g, '0'), s.version);
    const contact = `<sip:srs@${hostPort(this.opts.mediaAddress, s.transport.localPort)};transport=${s.transport.kind}>;+sip.srs`;
    return buildResponse(req, 200, undefined, { toTag: s.toTag, contact, headers: [`Allow: ${ALLOW}`, 'Supported: siprec'], body: { type: 'application/sdp', text } });
  }

  private retransmit(s: Session, branch: string, res: Buffer): void {
    if (s.pending?.timer !== undefined) clearTimeout(s.pending.timer);
    const p: PendingAnswer = { branch, response: res, interval: T1, sentAt: Date.now() };
    s.pending = p;
    const again = (): void => {
      if (s.pending !== p || s.closed) return;
      if (Date.now() - p.sentAt >= 64 * T1) {
        this.deps.log.warn(`${this.deps.source}: no ACK for the answer to ${s.callId} within ${(64 * T1) / 1000} s; the session stays open`);
        s.pending = undefined;
        return;
      }
      s.transport.send(res);
      p.interval = Math.min(T2, p.interval * 2);
      p.timer = setTimeout(again, p.interval);
      p.timer.unref();
    };
    p.timer = setTimeout(again, p.interval);
    p.timer.unref();
  }

  private acknowledged(s: Session): void {
    if (s.pending?.timer !== undefined) clearTimeout(s.pending.timer);
    s.pending = undefined;
  }

  private async reinvite(s: Session, req: SipRequest, raw: Buffer, t: SipTransport): Promise<void> {
    const branch = branchOf(req);
    const again = s.answered.get(branch);
    if (again !== undefined) return this.reply(t, again);
    s.lastActivity = Date.now();
    const body = this.readBody(req, t);
    if (body === undefined) return;
    if (body.metadata !== undefined) s.metadata = s.metadata === undefined ? body.metadata : mergeMetadata(s.metadata, body.metadata);
    let res: Buffer;
    if (body.sdp !== undefined) {
      const sdp = body.sdp;
      const reasons = sdp.media.map((m) => refusal(m));
      for (const m of sdp.media) if (m.connection !== undefined) s.mediaFrom.add(m.connection.address);
      let ports: Array<PortPair | undefined>;
      try {
        ports = await this.openPorts(sdp, reasons, s.ports, s.mediaFrom, () => s);
      } catch (e) {
        return this.refuse(req, t, 503, (e as Error).message, ['Retry-After: 5']);
      }
      if (s.closed) {
        for (const p of ports) if (!s.ports.includes(p)) p?.close();
        return this.reply(t, buildResponse(req, 481));
      }
      // Streams the new offer no longer has (or declines) close after the linger.
      for (const p of s.ports) if (p !== undefined && !ports.includes(p)) setTimeout(() => p.close(), this.opts.lingerMs).unref();
      s.ports = ports;
      s.offer = sdp;
      s.version++;
      res = this.answer(s, req, sdp);
    } else {
      // A metadata-only update (or a refresh without SDP): the answer repeats the current session description.
      res = buildResponse(req, 200, undefined, { toTag: s.toTag, headers: [`Allow: ${ALLOW}`, 'Supported: siprec'] });
    }
    s.parties = sessionParties(req, s.offer, s.metadata, s.parties);
    if (body.warnings.length > 0) s.parties.annotation.warnings = [...(s.parties.annotation.warnings ?? []), ...body.warnings];
    s.answered.set(branch, res);
    this.reply(t, res);
    if (t.kind === 'udp' && req.method === 'INVITE') this.retransmit(s, branch, res);
    this.ingest(raw, res, t, s.parties.annotation);
  }

  private bye(s: Session, req: SipRequest, raw: Buffer, t: SipTransport): void {
    const res = buildResponse(req, 200, undefined, { toTag: s.toTag });
    this.reply(t, res);
    this.ingest(raw, res, t, undefined);
    this.close(s, 'BYE', this.opts.lingerMs);
  }

  private cancel(req: SipRequest, t: SipTransport): void {
    const branch = branchOf(req);
    const open = this.opening.get(branch);
    if (open !== undefined) {
      open.cancelled = true;
      return this.reply(t, buildResponse(req, 200));
    }
    const fromTag = tagOf(req.from.params.tag);
    const s = fromTag === undefined ? undefined : this.sessions.get(`${req.callId}|${fromTag}`);
    // Already answered: the CANCEL has no effect (RFC 3261 §9.2); the SRC sends BYE.
    this.reply(t, buildResponse(req, s !== undefined ? 200 : 481));
  }

  private close(s: Session, why: string, lingerMs: number): void {
    if (s.closed) return;
    s.closed = true;
    if (s.pending?.timer !== undefined) clearTimeout(s.pending.timer);
    this.sessions.delete(s.key);
    const ports = s.ports;
    const shut = (): void => {
      for (const p of ports) p?.close();
    };
    if (lingerMs > 0) setTimeout(shut, lingerMs).unref();
    else shut();
    this.deps.sessions.inc({ result: `ended-${why === 'BYE' ? 'bye' : why === 'recorder stopping' ? 'stopped' : 'idle'}` });
  }

  private closeIdle(): void {
    const before = Date.now() - this.opts.idleTimeoutSec * 1000;
    for (const s of this.sessions.values()) {
      if (s.lastActivity < before) {
        this.deps.log.warn(`${this.deps.source}: recording session ${s.callId} had neither SIP nor media for ${this.opts.idleTimeoutSec} s: closed (its BYE was lost?)`);
        this.close(s, 'idle', 0);
      }
    }
  }
}
