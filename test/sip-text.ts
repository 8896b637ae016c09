/** Builds SIP message text for tests (CRLF line ends, correct Content-Length). */

export interface SipTextOptions {
  callId?: string;
  fromTag?: string;
  toTag?: string;
  cseq?: number;
  cseqMethod?: string;
  from?: string;
  to?: string;
  headers?: string[];
  body?: string;
  contentType?: string;
  branch?: string;
}

const CALLER = '"Alice Agent" <sip:alice@example.com>';
const CALLEE = '<sip:bob@example.com>';

function common(o: SipTextOptions, method: string): string[] {
  const lines = [
    `Via: SIP/2.0/UDP 10.0.0.1:5060;branch=${o.branch ?? 'z9hG4bK' + (o.cseq ?? 1) + method}`,
    `From: ${o.from ?? CALLER};tag=${o.fromTag ?? 'ftag'}`,
    `To: ${o.to ?? CALLEE}${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? 'call-1@test'}`,
    `CSeq: ${o.cseq ?? 1} ${o.cseqMethod ?? method}`,
    ...(o.headers ?? []),
  ];
  return lines;
}

function withBody(lines: string[], o: SipTextOptions): string {
  const body = o.body ?? '';
  if (body !== '') lines.push(`Content-Type: ${o.contentType ?? 'application/sdp'}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

export function request(method: string, o: SipTextOptions = {}): string {
  const uri = method === 'INVITE' || method === 'CANCEL' ? 'sip:bob@example.com' : 'sip:peer@10.0.0.2:5060';
  return withBody([`${method} ${uri} SIP/2.0`, 'Max-Forwards: 70', ...common(o, method), 'Contact: <sip:alice@10.0.0.1:5060>'], o);
}

export function response(status: number, reason: string, method: string, o: SipTextOptions = {}): string {
  return withBody([`SIP/2.0 ${status} ${reason}`, ...common(o, method)], o);
}

export function sdp(ip: string, port: number, opts: { direction?: string; pt?: number; codec?: string; extra?: string[] } = {}): string {
  const pt = opts.pt ?? 0;
  return [
    'v=0',
    `o=- 1 1 IN IP4 ${ip}`,
    's=-',
    `c=IN IP4 ${ip}`,
    't=0 0',
    `m=audio ${port} RTP/AVP ${pt} 101`,
    `a=rtpmap:${pt} ${opts.codec ?? 'PCMU/8000'}`,
    'a=rtpmap:101 telephone-event/8000',
    `a=${opts.direction ?? 'sendrecv'}`,
    ...(opts.extra ?? []),
    '',
  ].join('\r\n');
}
