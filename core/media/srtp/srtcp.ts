/**
 * SRTCP packet layout (RFC 3711 §3.4):
 *
 *   [RTCP header 8 B: V P RC PT length SSRC][encrypted rest][E (1 bit) | SRTCP index (31 bits)][MKI?][tag]
 *
 * The tag covers everything before the MKI, the E/index word included. Both AES_CM_128 suites use an 80-bit
 * SRTCP tag: the _32 suite shortens only the SRTP tag (RFC 4568 §6.2.2; libsrtp does the same).
 */

/** SRTCP authentication tag length for both AES_CM_128_HMAC_SHA1 suites (RFC 4568 §6.2.2). */
export const SRTCP_TAG_LENGTH = 10;
/** The RTCP header left in clear: V/P/RC, PT, length and the sender SSRC (RFC 3711 §3.4). */
export const SRTCP_CLEAR_HEADER = 8;

/** Where the parts of one SRTCP packet are, for an assumed MKI length. */
export interface SrtcpLayout {
  /** End of the encrypted portion = offset of the E/index word. */
  encEnd: number;
  /** Offset of the MKI (= end of the authenticated portion). */
  mkiStart: number;
  /** Offset of the tag. */
  tagStart: number;
  encrypted: boolean;
  index: number;
}

/** Splits an SRTCP packet for `mkiLength`; undefined when it is too short to hold header, E/index, MKI and tag. */
export function srtcpLayout(packet: Buffer, mkiLength: number): SrtcpLayout | undefined {
  const tagStart = packet.length - SRTCP_TAG_LENGTH;
  const mkiStart = tagStart - mkiLength;
  const encEnd = mkiStart - 4;
  if (encEnd < SRTCP_CLEAR_HEADER) return undefined;
  const word = packet.readUInt32BE(encEnd);
  return { encEnd, mkiStart, tagStart, encrypted: word >>> 31 === 1, index: word & 0x7fffffff };
}
