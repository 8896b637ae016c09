/** SIP message parsing: one datagram (parseSipMessage), a TCP/TLS byte stream (SipStreamFramer), MIME bodies. */
export * from './types';
export { parseSipMessage } from './parser';
export type { ParseOptions } from './parser';
export { HeaderStore, canonicalHeader, splitList } from './headers';
export { parseUri, parseNameAddr, parseVia, parseCSeq, parseHeaderParams, pctDecode } from './uri';
export { findSdpBody, walkMimeParts } from './multipart';
export { SipStreamFramer } from './framing';
export type { FramerOptions, FramerOutput } from './framing';
