/**
 * Responses of the recording server (RFC 3261 §8.2.6): Via, From, Call-ID and CSeq copied from the request as they
 * were written, To with the server's tag (except for 100 Trying), and whatever headers and body the status needs.
 * Built from the raw header values, so what the SRC wrote (parameters, display names, compact forms) comes back
 * unchanged.
 */
import type { SipRequest } from '../../core/sip/types';

export interface ResponseOptions {
  /** The dialog's tag of ours, added to To (not for 100). */
  toTag?: string;
  contact?: string;
  /** Extra header lines, `Name: value`. */
  headers?: string[];
  body?: { type: string; text: string };
}

const REASONS: Record<number, string> = {
  100: 'Trying',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  415: 'Unsupported Media Type',
  420: 'Bad Extension',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** One header line's value, CR/LF removed (a value from the network must not start a header of its own). */
function clean(v: string): string {
  return v.replace(/[\r\n]+/g, ' ');
}

export function buildResponse(req: SipRequest, status: number, reason?: string, o: ResponseOptions = {}): Buffer {
  const lines = [`SIP/2.0 ${status} ${clean(reason ?? REASONS[status] ?? 'Unknown')}`];
  for (const [name, value] of req.headers.entries()) {
    if (name === 'Via' || name === 'Record-Route' || name === 'From' || name === 'Call-ID' || name === 'CSeq') lines.push(`${name}: ${clean(value)}`);
    else if (name === 'To') {
      const hasTag = /;\s*tag\s*=/i.test(value);
      lines.push(`To: ${clean(value)}${o.toTag !== undefined && status !== 100 && !hasTag ? `;tag=${o.toTag}` : ''}`);
    }
  }
  if (o.contact !== undefined && status >= 200 && status < 300) lines.push(`Contact: ${o.contact}`);
  lines.push('Server: Tapline SIPREC recorder');
  for (const h of o.headers ?? []) lines.push(clean(h));
  const body = o.body === undefined ? Buffer.alloc(0) : Buffer.from(o.body.text, 'utf8');
  if (o.body !== undefined) lines.push(`Content-Type: ${o.body.type}`);
  lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'), body]);
}
