/** Parsed SIP message shapes (RFC 3261). Produced by core/sip/parser.ts. */

export interface SipUri {
  /** 'sip', 'sips', 'tel', or any other scheme (kept, not rejected: RFC 4475 §3.3.2). */
  scheme: string;
  user?: string;
  password?: string;
  /** Host without brackets for IPv6 ("2001:db8::10"); empty for non-SIP schemes. */
  host: string;
  port?: number;
  /** URI parameters, lower-cased names; a valueless parameter maps to null. */
  params: Record<string, string | null>;
  /** URI headers after '?', raw (still %-escaped). */
  headers: Record<string, string>;
  /** The URI exactly as written. */
  raw: string;
}

/** name-addr / addr-spec with header parameters, as in From, To, Contact, Refer-To, P-Asserted-Identity. */
export interface NameAddr {
  displayName?: string;
  uri: SipUri;
  /** Header parameters (tag, epid, expires...), lower-cased names. */
  params: Record<string, string | null>;
}

export interface Via {
  protocol: string; // 'SIP/2.0'
  transport: string; // 'UDP', 'TCP', 'TLS', ...
  host: string;
  port?: number;
  params: Record<string, string | null>;
}

export interface CSeq {
  seq: number;
  method: string;
}

/**
 * Header store. Names are canonical (compact forms expanded: 'v' -> 'Via'), looked up case-insensitively.
 * Repeated headers and comma-separated values of list headers are both kept, in order.
 */
export interface SipHeaders {
  /** First value of the header, or undefined. */
  get(name: string): string | undefined;
  /** Every value: repeated header lines, and list headers (Via, Route, Contact...) split at top-level commas. */
  getAll(name: string): string[];
  has(name: string): boolean;
  /** Header lines in wire order: [canonical name, raw value (unfolded)]. */
  entries(): ReadonlyArray<readonly [string, string]>;
}

interface SipMessageCommon {
  version: string; // 'SIP/2.0'
  headers: SipHeaders;
  callId: string;
  cseq: CSeq;
  from: NameAddr;
  to: NameAddr;
  via: Via[];
  /** Lower-cased media type without parameters ('application/sdp'), or undefined when absent. */
  contentType?: string;
  /** The body, exactly Content-Length bytes (or all remaining bytes when no Content-Length on UDP). */
  body: Buffer;
  /** Total bytes this message occupied on the wire (start line to end of body). */
  wireLength: number;
  /** Parsed Contact values ('*' omitted); undefined when there is no Contact header. */
  contact?: NameAddr[];
  /**
   * Semantic problems the parser tolerated (RFC 4475 §3.3): missing or repeated single-value headers,
   * conflicting Content-Length on UDP... A missing From/To/Call-ID/CSeq leaves an empty placeholder.
   */
  warnings?: string[];
}

export interface SipRequest extends SipMessageCommon {
  kind: 'request';
  method: string;
  requestUri: SipUri;
}

export interface SipResponse extends SipMessageCommon {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/** One MIME part of a (possibly nested) multipart body, leaves only. */
export interface MimePart {
  contentType: string; // lower-cased, no parameters
  /** Full Content-Type header value with parameters. */
  contentTypeRaw: string;
  headers: Record<string, string>; // lower-cased names
  body: Buffer;
}
