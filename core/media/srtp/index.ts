/**
 * SRTP/SRTCP receiving side (RFC 3711) for the AES_CM_128_HMAC_SHA1_80/_32 suites that SDES (RFC 4568) and
 * Lync/SfB use, on node:crypto, with the per-packet work of a known stream in an optional native addon on the same
 * OpenSSL (native.ts).
 *
 *   const { masterKey, masterSalt } = parseInlineKey(sdpCryptoKey.keySalt);
 *   const ctx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt, mkiLength: 1 });
 *   const r = ctx.unprotect(udpPayload); // r.ok ? r.rtp (plain RTP) : r.reason
 *
 * One context per sender key (one direction); it keeps per-SSRC state and finds the ROC when joining mid-call.
 */
export { parseInlineKey, deriveSessionKeys, deriveKey, KdfLabel, MASTER_KEY_LENGTH, MASTER_SALT_LENGTH } from './kdf';
export type { SrtpSessionKeys, SrtpMasterKey } from './kdf';
export { SrtpContext, SRTP_TAG_LENGTH, estimateIndex } from './context';
export type { SrtpSuite, MkiLength, SrtpContextOptions, SrtpResult, SrtcpResult, SrtpFailure, SrtpCounters, SrtpStreamInfo } from './context';
export { SRTCP_TAG_LENGTH } from './srtcp';
export { AesCm } from './cipher';
export { HmacSha1, HMAC_PATH } from './auth';
export { ReplayWindow } from './replay';
export { srtpNativeStatus } from './native';
export type { SrtpNativeStatus } from './native';
