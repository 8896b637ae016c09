/**
 * A recording INVITE's body (RFC 7866 §9.1): multipart/mixed with an SDP part and a recording-metadata part, or a
 * plain SDP (an SRC that sends no metadata: Cisco network-based recording). Vendor habits read as sent:
 * part headers without a space after the colon (BroadWorks), unusual boundary values (Oracle/Acme), bare LF line
 * endings (AudioCodes), an old or garbled metadata Content-Type (`application/rs-metadata`,
 * `application/ +xml`): a part is metadata by its type, its `Content-Disposition: recording-session`, or an XML
 * body whose root is a recording element.
 */
import { isTaplineError } from '../../core/errors';
import { walkMimeParts } from '../../core/sip/index';
import type { MimePart, SipMessage } from '../../core/sip/types';

export interface RecordingBody {
  sdp?: Buffer;
  metadata?: string;
  /** Other parts, by type (kept in facts: an SRC's own extensions such as Cisco's application/gtd). */
  others: string[];
  /** What was read leniently. */
  warnings: string[];
}

/** Why a body cannot be a recording session's: the UAS answers with `status`. */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 415 | 488,
    message: string,
  ) {
    super(message);
  }
}

function isMetadata(p: MimePart): boolean {
  if (/rs-metadata/.test(p.contentType)) return true;
  if (/recording-session/i.test(p.headers['content-disposition'] ?? '')) return true;
  if (/xml/.test(p.contentType) || p.contentType === 'text/plain') {
    const head = p.body.toString('utf8', 0, Math.min(p.body.length, 512));
    return /<(?:[A-Za-z_][\w.-]*:)?recording(?:_metadata)?[\s>]/.test(head);
  }
  return false;
}

/** The SDP and the metadata of a recording INVITE (or re-INVITE / UPDATE); throws BodyError. */
export function splitRecordingBody(msg: SipMessage): RecordingBody {
  const out: RecordingBody = { others: [], warnings: [] };
  const ct = msg.contentType;
  if (msg.body.length === 0) return out;
  if (ct === undefined) throw new BodyError(400, 'a body without a Content-Type');
  if (ct === 'application/sdp') {
    out.sdp = msg.body;
    return out;
  }
  if (ct === 'application/rs-metadata+xml' || ct === 'application/rs-metadata') {
    // A metadata-only update (RFC 7866 §9.3: a re-INVITE or UPDATE that changes only the metadata).
    out.metadata = msg.body.toString('utf8');
    return out;
  }
  if (!ct.startsWith('multipart/')) throw new BodyError(415, `a ${ct} body is neither SDP nor multipart/mixed with SDP and recording metadata`);
  const ctRaw = msg.headers.get('Content-Type') ?? ct;
  let parts: MimePart[];
  try {
    parts = walkMimeParts(ctRaw, msg.body);
  } catch (e) {
    // A body whose last part is whole but whose closing delimiter is missing (seen in SRCs' bodies as logged and
    // replayed): read as if it were there, and said.
    const boundary = /boundary\s*=\s*"?([^";\s]+)"?/i.exec(ctRaw)?.[1];
    if (isTaplineError(e) && e.details.reason === 'multipart-truncated' && boundary !== undefined && msg.body.includes(`--${boundary}`)) {
      try {
        parts = walkMimeParts(ctRaw, Buffer.concat([msg.body, Buffer.from(`\r\n--${boundary}--\r\n`)]));
        out.warnings.push(`the multipart body has no closing '--${boundary}--' delimiter: read to its end`);
      } catch (e2) {
        throw new BodyError(400, `the multipart body cannot be read: ${(e2 as Error).message}`);
      }
    } else throw new BodyError(400, `the multipart body cannot be read: ${(e as Error).message}`);
  }
  for (const p of parts) {
    if (p.contentType === 'application/sdp') {
      if (out.sdp !== undefined) throw new BodyError(488, 'more than one SDP part');
      out.sdp = p.body;
    } else if (isMetadata(p)) {
      if (out.metadata !== undefined) throw new BodyError(400, 'more than one recording metadata part');
      out.metadata = p.body.toString('utf8');
    } else out.others.push(p.contentType);
  }
  return out;
}
