/**
 * SIP message text for one call as seen on the caller ↔ server leg (RFC 3261): requests from the caller,
 * responses and callee-side requests (a callee's BYE) from the server. Lync calls add the identity headers of
 * lync-protocols.md §7 (epid on From/To, GRUU Contact, Ms-Conversation-ID, UCCAPI User-Agent).
 */

export const LYNC_USER_AGENT = 'UCCAPI/16.0.4405.1000 OC/16.0.4405.1000 (Skype for Business)';
export const PLAIN_USER_AGENT = 'tapline-generator/1.0';
const LYNC_SUPPORTED = 'ms-dialog-route-set-update, timer, histinfo, ms-safe-transfer, ms-sender, ms-early-media, 100rel, replaces, ms-conf-invite';

export interface SipParty {
  display: string;
  /** sip:user@domain */
  uri: string;
  tag: string;
  epid?: string;
  /** Where its SIP is sent from (caller) or the server's address (callee side). */
  ip: string;
  port: number;
}

export interface SipCallParams {
  callId: string;
  caller: SipParty;
  callee: SipParty;
  transport: 'UDP' | 'TCP';
  lync: boolean;
  conversationId?: string;
}

export interface SipBody {
  contentType: string;
  body: string;
}

export const REASONS: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  183: 'Session Progress',
  200: 'OK',
  486: 'Busy Here',
  487: 'Request Terminated',
};

/** Builds the messages of one dialog; `branch` ties a response to its request (and an ACK/CANCEL to its INVITE). */
export class SipCallBuilder {
  constructor(private readonly p: SipCallParams) {}

  private nameAddr(party: SipParty, withTag: boolean): string {
    let s = `"${party.display}" <${party.uri}>`;
    if (withTag) s += `;tag=${party.tag}`;
    if (this.p.lync && party.epid !== undefined) s += `;epid=${party.epid}`;
    return s;
  }

  private contact(party: SipParty): string {
    if (this.p.lync && party.epid !== undefined) return `<${party.uri};opaque=user:epid:${party.epid};gruu>`;
    const user = party.uri.replace(/^sip:/, '').split('@')[0] ?? '';
    return `<sip:${user}@${party.ip}:${party.port};transport=${this.p.transport.toLowerCase()}>`;
  }

  private finish(lines: string[], body?: SipBody): string {
    const p = this.p;
    lines.push(`Call-ID: ${p.callId}`);
    if (p.lync) {
      if (p.conversationId !== undefined) lines.push(`Ms-Conversation-ID: ${p.conversationId}`);
      lines.push(`User-Agent: ${LYNC_USER_AGENT}`);
    } else lines.push(`User-Agent: ${PLAIN_USER_AGENT}`);
    if (body !== undefined) lines.push(`Content-Type: ${body.contentType}`);
    const text = body?.body ?? '';
    lines.push(`Content-Length: ${Buffer.byteLength(text)}`, '', '');
    return lines.join('\r\n') + text;
  }

  /**
   * A request. fromCaller: the caller's request (Via = caller); otherwise a callee request relayed by the
   * server (From = callee). toTag: the dialog is established (the remote tag is known).
   */
  request(method: string, cseq: number, branch: string, fromCaller: boolean, toTag: boolean, body?: SipBody): string {
    const p = this.p;
    const me = fromCaller ? p.caller : p.callee;
    const peer = fromCaller ? p.callee : p.caller;
    const ruri = fromCaller ? (toTag ? this.contact(p.callee).slice(1, -1) : p.callee.uri) : this.contact(p.caller).slice(1, -1);
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/${p.transport} ${me.ip}:${me.port};branch=${branch}${fromCaller ? ';rport' : ''}`,
      'Max-Forwards: 70',
      `From: ${this.nameAddr(me, true)}`,
      `To: ${this.nameAddr(peer, toTag)}`,
      `CSeq: ${cseq} ${method}`,
    ];
    if (method === 'INVITE') {
      lines.push(`Contact: ${this.contact(me)}`);
      if (p.lync) lines.push(`Supported: ${LYNC_SUPPORTED}`);
      lines.push('Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, REFER, NOTIFY, PRACK, UPDATE');
    }
    return this.finish(lines, body);
  }

  /**
   * A response to a request. toCaller: the request came from the caller (the usual case); otherwise it answers
   * a callee-side request and goes back towards the server. toTag: include the callee's tag (not on 100).
   */
  response(status: number, method: string, cseq: number, branch: string, toCaller: boolean, toTag: boolean, body?: SipBody): string {
    const p = this.p;
    const reqFrom = toCaller ? p.caller : p.callee;
    const reqTo = toCaller ? p.callee : p.caller;
    const lines = [
      `SIP/2.0 ${status} ${REASONS[status] ?? 'Unknown'}`,
      `Via: SIP/2.0/${p.transport} ${reqFrom.ip}:${reqFrom.port};branch=${branch}${toCaller ? `;rport=${reqFrom.port};received=${reqFrom.ip}` : ''}`,
      `From: ${this.nameAddr(reqFrom, true)}`,
      `To: ${this.nameAddr(reqTo, toTag)}`,
      `CSeq: ${cseq} ${method}`,
    ];
    if (method === 'INVITE' && status > 100 && status < 300) {
      lines.push(`Contact: ${this.contact(reqTo)}`);
      if (p.lync) lines.push(`Supported: ${LYNC_SUPPORTED}`);
    }
    return this.finish(lines, body);
  }
}
