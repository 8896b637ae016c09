/**
 * Generated Skype for Business / Lync IM sessions for tests (lync-protocols.md §6, §7): one-to-one sessions
 * (INVITE m=message with the first message in ms-text-format or not, 200 with Supported: ms-text-format, ACK,
 * MESSAGE / 200, typing notices, BYE) and conference chats through the IM MCU (each participant's leg, upstream
 * MESSAGEs and their downstream copies with Ms-Sender, the focus's conference-info roster). Bodies in every
 * form the chat plugin reads: text/plain in any charset, base64 and quoted-printable, text/html, text/rtf,
 * multipart/alternative. Each message comes with the text a transcript must show.
 */
import * as iconv from 'iconv-lite';
import { PcapWriter } from '../core/net/pcap-writer';
import { ethernet, ipv4, udp } from '../core/net/packet-builder';

export interface ImUser {
  uri: string; // 'sip:alice@contoso.com'
  name?: string;
  ip: string;
  port?: number;
  epid?: string;
}

export type BodyForm = 'plain' | 'html' | 'rtf' | 'alternative' | 'base64' | 'quoted-printable';

export interface ImText {
  /** Index of the author in the session's users. */
  from: number;
  text: string;
  form?: BodyForm;
  /** charset of text/plain bodies (default UTF-8). */
  charset?: string;
  /** Seconds after the previous message. */
  gapSec?: number;
  /** A typing notice (is-composing active) before the message. */
  typing?: boolean;
}

export interface WireSip {
  ts: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  text: Buffer;
}

export interface OneToOneSpec {
  callId: string;
  /** [initiator, invitee]. */
  users: [ImUser, ImUser];
  /** µs since the epoch. */
  t0: number;
  messages: ImText[];
  conversationId?: string;
  /** The first message rides in the INVITE's ms-text-format header (default true, as SfB does). */
  firstInInvite?: boolean;
  /** The answer confirms it with Supported: ms-text-format (default true); else the client sends it again. */
  confirmFirst?: boolean;
  /** 'x-ms-message': the RTC-era media line. */
  media?: 'message' | 'x-ms-message';
  /** How the session ends: BYE from the initiator (default), a 481 to a MESSAGE, or not at all. */
  end?: 'bye' | 'dangling' | 'none';
  /** Every request and response seen twice (two capture points). */
  duplicate?: boolean;
}

const CRLF = '\r\n';
const US = 1_000_000;

function nameAddr(u: ImUser, tag?: string): string {
  return `${u.name !== undefined ? `"${u.name}" ` : ''}<${u.uri}>${tag !== undefined ? `;tag=${tag}` : ''}${u.epid !== undefined ? `;epid=${u.epid}` : ''}`;
}

function hostOf(u: ImUser): string {
  return `${u.ip}:${u.port ?? 5061}`;
}

function msg(start: string, headers: string[], body: Buffer = Buffer.alloc(0), contentType?: string): Buffer {
  const lines = [start, ...headers];
  if (contentType !== undefined) lines.push(`Content-Type: ${contentType}`);
  lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF + CRLF, 'utf8'), body]);
}

export function imSdp(ip: string, media: 'message' | 'x-ms-message' = 'message'): string {
  return [
    'v=0',
    `o=- 0 0 IN IP4 ${ip}`,
    's=session',
    `c=IN IP4 ${ip}`,
    't=0 0',
    `m=${media} 5060 sip null`,
    'a=accept-types:text/plain text/html image/gif multipart/alternative application/im-iscomposing+xml application/ms-imdn+xml text/x-msmsgsinvite',
    '',
  ].join(CRLF);
}

/** msgr= of the Lync clients: base64 of UTF-16LE 'X-MMS-IM-Format: FN=…; EF=; CO=0; CS=0; PF=0' and CRLF CRLF. */
export function msgrFor(font = 'Segoe UI'): string {
  return Buffer.from(`X-MMS-IM-Format: FN=${encodeURIComponent(font)}; EF=; CO=0; CS=0; PF=0\r\n\r\n`, 'utf16le').toString('base64');
}

function htmlOf(text: string): string {
  const esc = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  // Runs of spaces as the clients write them (alternating &nbsp;), a leading space as &nbsp;, line breaks as <br>.
  const spaced = esc.replace(/ {2,}/g, (m) => [...m].map((_, i) => (i % 2 === 0 ? '&nbsp;' : ' ')).join('')).replace(/^ /gm, '&nbsp;');
  return `<span style="font-family:Segoe UI;color:#000000;">${spaced.split('\n').join('<br/>')}</span>`;
}

/** RTF as Communicator writes it: Windows-1252 font table, other characters as \uN? with a '?' fallback. */
function rtfOf(text: string): string {
  let body = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '\n') body += '\\par\r\n';
    else if (ch === '\\' || ch === '{' || ch === '}') body += `\\${ch}`;
    else if (code >= 0x20 && code < 0x80) body += ch;
    else if (code >= 0xa0 && code <= 0xff) body += `\\'${code.toString(16)}`;
    else {
      for (let i = 0; i < ch.length; i++) {
        const unit = ch.charCodeAt(i); // UTF-16 code units, signed as RTF writes them
        body += `\\u${unit > 32767 ? unit - 65536 : unit}?`;
      }
    }
  }
  return `{\\rtf1\\fbidis\\ansi\\ansicpg1252\\deff0\\deflang1033{\\fonttbl{\\f0\\fswiss\\fcharset0 Segoe UI;}}\r\n{\\colortbl ;\\red0\\green0\\blue0;}\r\n\\viewkind4\\uc1\\pard\\ltrpar\\cf1\\f0\\fs20 ${body}\\par\r\n}\r\n`;
}

function qpOf(bytes: Buffer): string {
  let out = '';
  let line = 0;
  for (const b of bytes) {
    const piece = (b >= 33 && b <= 126 && b !== 61) || b === 32 ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line + piece.length > 75) {
      out += '=\r\n';
      line = 0;
    }
    out += piece;
    line += piece.length;
  }
  return out;
}

/** A message body in one of the forms; returns Content-Type (without msgr) and bytes, plus extra headers. */
export function bodyFor(t: ImText): { contentType: string; body: Buffer; headers: string[] } {
  const form = t.form ?? 'plain';
  const charset = t.charset ?? 'UTF-8';
  const msgr = `;msgr=${msgrFor()}`;
  switch (form) {
    case 'plain':
      return { contentType: `text/plain; charset=${charset}${msgr}`, body: iconv.encode(t.text, charset), headers: [] };
    case 'base64':
      return { contentType: `text/plain; charset=${charset}${msgr}`, body: Buffer.from(iconv.encode(t.text, charset).toString('base64').replace(/(.{76})/g, '$1\r\n')), headers: ['Content-Transfer-Encoding: base64'] };
    case 'quoted-printable':
      return { contentType: `text/plain; charset=${charset}${msgr}`, body: Buffer.from(qpOf(iconv.encode(t.text, charset)), 'latin1'), headers: ['Content-Transfer-Encoding: quoted-printable'] };
    case 'html':
      return { contentType: `text/html; charset=UTF-8${msgr}`, body: Buffer.from(htmlOf(t.text), 'utf8'), headers: [] };
    case 'rtf':
      return { contentType: 'text/rtf', body: Buffer.from(rtfOf(t.text), 'latin1'), headers: [] };
    case 'alternative': {
      const b = 'alt_boundary_7f3a';
      const parts = [
        `--${b}`,
        `Content-Type: text/plain; charset=UTF-8${msgr}`,
        '',
        t.text,
        `--${b}`,
        `Content-Type: text/html; charset=UTF-8${msgr}`,
        '',
        htmlOf(t.text),
        `--${b}--`,
        '',
      ];
      return { contentType: `multipart/alternative; boundary="${b}"`, body: Buffer.from(parts.join(CRLF), 'utf8'), headers: [] };
    }
  }
}

interface Dialog {
  callId: string;
  /** Initiator (From of the INVITE) and the other end. */
  a: ImUser;
  b: ImUser;
  aTag: string;
  bTag: string;
  /** Request-URI/To of the INVITE (the MCU URI for a conference leg). */
  bUri: string;
  cseq: { a: number; b: number };
}

function request(d: Dialog, byA: boolean, method: string, extra: string[], body?: Buffer, contentType?: string, withToTag = true): Buffer {
  const me = byA ? d.a : d.b;
  const peer = byA ? d.b : d.a;
  const side = byA ? 'a' : 'b';
  const cseq = method === 'ACK' ? d.cseq.a : ++d.cseq[side];
  const fromTag = byA ? d.aTag : d.bTag;
  const toTag = byA ? d.bTag : d.aTag;
  const target = byA ? d.bUri : peer.uri;
  return msg(
    `${method} ${target} SIP/2.0`,
    [
      `Via: SIP/2.0/UDP ${hostOf(me)};branch=z9hG4bK${method.toLowerCase()}${cseq}${side}`,
      'Max-Forwards: 70',
      `From: ${nameAddr(me, fromTag)}`,
      `To: ${byA ? `${peer.name !== undefined ? `"${peer.name}" ` : ''}<${d.bUri}>` : nameAddr(peer)}${withToTag ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${d.callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:${me.uri.replace(/^sip:/, '')};opaque=user:epid:${me.epid ?? 'x'};gruu>`,
      'User-Agent: UCCAPI/16.0.4405.1000 OC/16.0.4405.1000 (Skype for Business)',
      ...extra,
    ],
    body,
    contentType,
  );
}

function response(req: Buffer, status: number, reason: string, d: Dialog, extra: string[] = [], body?: Buffer, contentType?: string): Buffer {
  const text = req.toString('utf8');
  const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
  const keep = head.filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
  const toLine = keep.findIndex((l) => l.startsWith('To:'));
  // The answering side's tag on To.
  if (toLine >= 0 && !/;tag=/.test(keep[toLine]!)) {
    const fromA = head.some((l) => l.startsWith('From:') && l.includes(`tag=${d.aTag}`));
    keep[toLine] = `${keep[toLine]};tag=${fromA ? d.bTag : d.aTag}`;
  }
  return msg(`SIP/2.0 ${status} ${reason}`, [...keep, ...extra], body, contentType);
}

class Wire {
  readonly out: WireSip[] = [];
  constructor(public ts: number, private readonly dup: boolean) {}
  send(from: ImUser, to: ImUser, text: Buffer, gapUs = 20_000): void {
    this.ts += gapUs;
    const w = { ts: this.ts, src: from.ip, sport: from.port ?? 5061, dst: to.ip, dport: to.port ?? 5061, text };
    this.out.push(w);
    if (this.dup) {
      this.ts += 1_000;
      this.out.push({ ...w, ts: this.ts });
    }
  }
}

/** Expected transcript content for a generated session. */
export interface Expected {
  messages: Array<{ author: string; text: string }>;
  participants: string[];
}

/** A one-to-one IM session: INVITE (first message in ms-text-format), 200, ACK, MESSAGEs, BYE. */
export function oneToOne(spec: OneToOneSpec): { wire: WireSip[]; expected: Expected } {
  const [a, b] = spec.users;
  const d: Dialog = { callId: spec.callId, a, b, aTag: `a${spec.callId.slice(0, 6)}`, bTag: `B${spec.callId.slice(-6)}`, bUri: b.uri, cseq: { a: 0, b: 0 } };
  const w = new Wire(spec.t0, spec.duplicate === true);
  const firstInInvite = spec.firstInInvite !== false && spec.messages.length > 0 && spec.messages[0]!.from === 0;
  const inviteHeaders = ['Supported: ms-dialog-route-set-update', 'Supported: ms-sender', 'Supported: ms-text-format', 'Supported: com.microsoft.rtc-multiparty'];
  if (spec.conversationId !== undefined) inviteHeaders.push(`Ms-Conversation-ID: ${spec.conversationId}`);
  if (firstInInvite) {
    const first = spec.messages[0]!;
    const bytes = iconv.encode(first.text, first.charset ?? 'UTF-8');
    inviteHeaders.push(`ms-text-format: text/plain; charset=${first.charset ?? 'UTF-8'};msgr=${msgrFor()};ms-body=${bytes.toString('base64')}`);
  }
  const invite = request(d, true, 'INVITE', inviteHeaders, Buffer.from(imSdp(a.ip, spec.media)), 'application/sdp', false);
  w.send(a, b, invite, 0);
  w.send(b, a, stripToTag(response(invite, 100, 'Trying', d)));
  const okHeaders = ['Supported: ms-sender', 'Supported: com.microsoft.rtc-multiparty', `Contact: <${b.uri};opaque=user:epid:${b.epid ?? 'y'};gruu>`];
  if (firstInInvite && spec.confirmFirst !== false) okHeaders.push('Supported: ms-text-format');
  w.send(b, a, response(invite, 200, 'OK', d, okHeaders, Buffer.from(imSdp(b.ip, spec.media)), 'application/sdp'), 300_000);
  w.send(a, b, request(d, true, 'ACK', []));
  const expected: Expected = { messages: [], participants: [a.uri, b.uri] };
  spec.messages.forEach((m, i) => {
    const author = m.from === 0 ? a : b;
    const peer = m.from === 0 ? b : a;
    expected.messages.push({ author: author.uri, text: m.text });
    if (i === 0 && firstInInvite && spec.confirmFirst !== false) return;
    if (m.typing === true) {
      const t = request(d, m.from === 0, 'MESSAGE', [], Buffer.from('<?xml version="1.0"?><isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>active</state><contenttype>text/plain</contenttype></isComposing>'), 'application/im-iscomposing+xml');
      w.send(author, peer, t, Math.round((m.gapSec ?? 1) * US * 0.5));
      w.send(peer, author, response(t, 200, 'OK', d));
    }
    const body = bodyFor(m);
    const req = request(d, m.from === 0, 'MESSAGE', body.headers, body.body, body.contentType);
    w.send(author, peer, req, Math.round((m.gapSec ?? 1) * US * (m.typing === true ? 0.5 : 1)));
    const last = i === spec.messages.length - 1;
    if (spec.end === 'dangling' && last) w.send(peer, author, response(req, 481, 'Call Leg/Transaction Does Not Exist', d));
    else w.send(peer, author, response(req, 200, 'OK', d));
  });
  if (spec.end === undefined || spec.end === 'bye') {
    const bye = request(d, true, 'BYE', []);
    w.send(a, b, bye, 2 * US);
    w.send(b, a, response(bye, 200, 'OK', d));
  }
  return { wire: w.out, expected };
}

function stripToTag(b: Buffer): Buffer {
  return Buffer.from(b.toString('utf8').replace(/^(To:[^\r\n]*?);tag=[^;\r\n]*/m, '$1'), 'utf8');
}

export interface McuChatSpec {
  /** 'sip:org@contoso.com': the conference organiser's URI the MCU URIs are built on. */
  organizer: string;
  conferenceId: string;
  mcuIp: string;
  t0: number;
  /** Each participant joins with their own leg to the IM MCU, in order. */
  users: ImUser[];
  messages: ImText[];
  conversationId?: string;
  /** Users (by index) who leave with a BYE after the messages, in order; the rest stay until `endAll`. */
  leave?: number[];
  /** Everyone left at the end (default true). */
  endAll?: boolean;
  /** A user the focus's roster announces as joining (and then leaving) the chat, with no leg of their own seen. */
  rosterOnly?: ImUser;
  /** The MCU forwards each message to everyone else as multipart/alternative (plain + HTML). */
  forwardAlternative?: boolean;
}

export function mcuUri(spec: McuChatSpec, role: 'chat' | 'focus'): string {
  return `${spec.organizer};gruu;opaque=app:conf:${role}:id:${spec.conferenceId}`;
}

/** A conference chat through the IM MCU: every participant's leg, upstream MESSAGEs and downstream copies with Ms-Sender. */
export function mcuChat(spec: McuChatSpec): { wire: WireSip[]; expected: Expected } {
  const mcu: ImUser = { uri: mcuUri(spec, 'chat'), ip: spec.mcuIp, port: 5061 };
  const w = new Wire(spec.t0, false);
  const legs: Dialog[] = spec.users.map((u, i) => ({ callId: `mcu-leg-${i}-${spec.conferenceId}`, a: u, b: mcu, aTag: `p${i}tag`, bTag: `mcu${i}tag`, bUri: mcu.uri, cseq: { a: 0, b: 0 } }));
  const expected: Expected = { messages: [], participants: spec.users.map((u) => u.uri) };
  for (const d of legs) {
    const headers = ['Supported: ms-sender', 'Supported: ms-text-format'];
    if (spec.conversationId !== undefined) headers.push(`Ms-Conversation-ID: ${spec.conversationId}`);
    const invite = request(d, true, 'INVITE', headers, Buffer.from(imSdp(d.a.ip)), 'application/sdp', false);
    w.send(d.a, mcu, invite, 500_000);
    w.send(mcu, d.a, response(invite, 200, 'OK', d, ['Supported: ms-sender'], Buffer.from(imSdp(spec.mcuIp)), 'application/sdp'));
    w.send(d.a, mcu, request(d, true, 'ACK', []));
  }
  const focus = mcuUri(spec, 'focus');
  const notify = (users: Array<{ u: ImUser; inChat: boolean }>): void => {
    const d = legs[0]!;
    const xml =
      `<?xml version="1.0" encoding="utf-8"?><conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="${focus}" state="partial" version="2"><users>` +
      users
        .map(
          ({ u, inChat }) =>
            `<user entity="${u.uri}" state="partial"><display-text>${u.name ?? ''}</display-text><endpoint entity="{${u.epid ?? 'ep'}}" session-type="chat"><status>${inChat ? 'connected' : 'disconnected'}</status></endpoint></user>`,
        )
        .join('') +
      '</users></conference-info>';
    const body = Buffer.from(xml, 'utf8');
    const text = msg(
      `NOTIFY sip:${d.a.uri.replace(/^sip:/, '')} SIP/2.0`,
      [`Via: SIP/2.0/UDP ${spec.mcuIp}:5061;branch=z9hG4bKnotify${w.out.length}`, `From: <${focus}>;tag=focus1`, `To: <${d.a.uri}>;tag=sub1`, `Call-ID: focus-sub-${spec.conferenceId}`, `CSeq: ${w.out.length} NOTIFY`, 'Event: conference', 'Subscription-State: active;expires=3600'],
      body,
      'application/conference-info+xml',
    );
    w.send(mcu, d.a, text);
  };
  if (spec.rosterOnly !== undefined) notify([{ u: spec.rosterOnly, inChat: true }]);
  for (const m of spec.messages) {
    const author = spec.users[m.from]!;
    const up = legs[m.from]!;
    expected.messages.push({ author: author.uri, text: m.text });
    const body = bodyFor(m);
    const req = request(up, true, 'MESSAGE', body.headers, body.body, body.contentType);
    w.send(author, mcu, req, Math.round((m.gapSec ?? 1) * US));
    w.send(mcu, author, response(req, 200, 'OK', up));
    legs.forEach((down, j) => {
      if (j === m.from) return;
      const fwd = spec.forwardAlternative === true ? bodyFor({ ...m, form: 'alternative' }) : body;
      const copy = request(down, false, 'MESSAGE', [`Ms-Sender: ${nameAddr(author)}`, ...fwd.headers], fwd.body, fwd.contentType);
      w.send(mcu, down.a, copy);
      w.send(down.a, mcu, response(copy, 200, 'OK', down));
    });
  }
  if (spec.rosterOnly !== undefined) notify([{ u: spec.rosterOnly, inChat: false }]);
  const leaving = [...(spec.leave ?? []), ...(spec.endAll === false ? [] : spec.users.map((_, i) => i).filter((i) => !(spec.leave ?? []).includes(i)))];
  for (const i of leaving) {
    const d = legs[i]!;
    const bye = request(d, true, 'BYE', []);
    w.send(d.a, mcu, bye, US);
    w.send(mcu, d.a, response(bye, 200, 'OK', d));
  }
  return { wire: w.out, expected };
}

/** Feeds generated SIP to a test harness as UDP datagrams (bytes as generated: bodies need not be UTF-8). */
export function feed(target: { packet(p: { src: string; sport: number; dst: string; dport: number; ts: number; payload: Buffer }): void }, wire: WireSip[]): void {
  for (const m of wire) target.packet({ src: m.src, sport: m.sport, dst: m.dst, dport: m.dport, ts: m.ts, payload: m.text });
}

/** Writes generated SIP as UDP frames in a classic pcap (Ethernet). */
export async function writeImPcap(file: string, wire: WireSip[]): Promise<void> {
  const out = new PcapWriter(file);
  let id = 1;
  for (const m of [...wire].sort((x, y) => x.ts - y.ts)) {
    out.write(m.ts, ethernet(0x0800, ipv4(17, udp(m.sport, m.dport, m.text), { src: m.src, dst: m.dst, id: id++ & 0xffff })));
  }
  await out.close();
}
