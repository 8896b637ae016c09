/** SDP parsing for Tapline: parseSdp() plus the derived-view helpers and types. */
export { parseSdp } from './parser';
export { effectiveRtpMap, mediaEndpoints, STATIC_PAYLOAD_TYPES } from './helpers';
export type { MediaEndpoint } from './helpers';
export {
  parseCandidate,
  parseConnection,
  parseCrypto,
  parseFmtp,
  parseRemoteCandidates,
  parseRtcp,
  parseRtpMap,
  parseSsrcRange,
  SdpAttributeError,
} from './attributes';
export type * from './types';
export { suppressCodecs, suppressCodecsInSip } from './suppress';
export type { SipSuppressResult, SuppressedFormat, SuppressOptions, SuppressResult } from './suppress';
