/**
 * SRTP master key handling: SDES inline key text (RFC 4568 §6.1) and the default key derivation function
 * (RFC 3711 §4.3, AES-CM PRF of §4.3.3).
 */
import { ErrorCodes, TaplineError } from '../../errors';
import { AesCm, xorIndex48 } from './cipher';

/** Master key and salt lengths of the AES_CM_128 suites (RFC 4568 §6.2.1). */
export const MASTER_KEY_LENGTH = 16;
export const MASTER_SALT_LENGTH = 14;

/** RFC 3711 §4.3.2 key derivation labels. */
export const KdfLabel = {
  RtpEncryption: 0,
  RtpAuth: 1,
  RtpSalt: 2,
  RtcpEncryption: 3,
  RtcpAuth: 4,
  RtcpSalt: 5,
} as const;
export type KdfLabel = (typeof KdfLabel)[keyof typeof KdfLabel];

/** Session keys of one master key (RFC 3711 §4.3): AES-128 keys, 14-byte salts, 160-bit HMAC-SHA1 keys. */
export interface SrtpSessionKeys {
  rtpKey: Buffer;
  rtpSalt: Buffer;
  rtpAuth: Buffer;
  rtcpKey: Buffer;
  rtcpSalt: Buffer;
  rtcpAuth: Buffer;
}

export interface SrtpMasterKey {
  masterKey: Buffer;
  masterSalt: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes the `<key||salt>` part of `inline:<key||salt>|<lifetime>|<mki>:<len>` (SdpCryptoKey.keySalt) into the
 * 16-byte master key and 14-byte master salt: 40 base64 characters for the AES_CM_128 suites (RFC 4568 §6.1).
 * Throws TaplineError(SDP_PARSE) for text that is not base64 or does not decode to 30 bytes.
 */
export function parseInlineKey(keySaltBase64: string): SrtpMasterKey {
  const text = keySaltBase64.trim();
  // Buffer.from(…, 'base64') silently skips junk, so check the alphabet and padding first.
  if (text.length === 0 || !BASE64.test(text) || text.length % 4 === 1) {
    throw new TaplineError(ErrorCodes.SDP_PARSE, `SRTP inline key is not base64: "${redact(text)}"`, { length: text.length });
  }
  const raw = Buffer.from(text, 'base64');
  const want = MASTER_KEY_LENGTH + MASTER_SALT_LENGTH;
  if (raw.length !== want) {
    throw new TaplineError(
      ErrorCodes.SDP_PARSE,
      `SRTP inline key decodes to ${raw.length} bytes; AES_CM_128 needs ${want} (16-byte master key + 14-byte salt, 40 base64 characters)`,
      { length: raw.length },
    );
  }
  return { masterKey: raw.subarray(0, MASTER_KEY_LENGTH), masterSalt: raw.subarray(MASTER_KEY_LENGTH) };
}

/** Key text goes into error messages only shortened: it is a secret. */
function redact(text: string): string {
  return text.length <= 8 ? '…' : `${text.slice(0, 4)}…(${text.length} chars)`;
}

/** Throws TaplineError(SDP_PARSE) unless key and salt have the AES_CM_128 lengths. */
export function checkMasterKey(masterKey: Buffer, masterSalt: Buffer): void {
  if (masterKey.length !== MASTER_KEY_LENGTH || masterSalt.length !== MASTER_SALT_LENGTH) {
    throw new TaplineError(
      ErrorCodes.SDP_PARSE,
      `SRTP master key/salt must be ${MASTER_KEY_LENGTH}/${MASTER_SALT_LENGTH} bytes, got ${masterKey.length}/${masterSalt.length}`,
    );
  }
}

/**
 * RFC 3711 §4.3.1: key_id = label || r with r = index DIV kdr (48 bits; 0 when kdr = 0), x = key_id XOR master
 * salt, and the session key is the AES-CM keystream of the master key under IV = x · 2^16.
 */
function prf(aes: AesCm, masterSalt: Buffer, label: KdfLabel, r: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0, 0, MASTER_SALT_LENGTH);
  // key_id is 7 bytes (label then the 48-bit r), right-aligned against the 14-byte salt: bytes 7..13.
  iv[7] = (iv[7] as number) ^ label;
  xorIndex48(iv, r);
  return Buffer.from(aes.keystream(iv, length).subarray(0, length));
}

/** RFC 3711 §4.3.1 validation of kdr and index; returns r = index DIV kdr (0 when kdr = 0). */
function keyIdRate(kdr: number, index: number): number {
  if (!(kdr === 0 || (Number.isInteger(kdr) && kdr >= 1 && kdr <= 2 ** 24 && (kdr & (kdr - 1)) === 0))) {
    throw new RangeError(`SRTP key derivation rate must be 0 or a power of two up to 2^24, got ${kdr}`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** 48) throw new RangeError(`SRTP packet index must be a 48-bit integer, got ${index}`);
  return kdr === 0 ? 0 : Math.floor(index / kdr);
}

/** One session key of `length` bytes for `label` (RFC 3711 §4.3.1); deriveSessionKeys gives all six. */
export function deriveKey(masterKey: Buffer, masterSalt: Buffer, label: KdfLabel, length: number, kdr = 0, index = 0): Buffer {
  checkMasterKey(masterKey, masterSalt);
  return prf(new AesCm(masterKey), masterSalt, label, keyIdRate(kdr, index), length);
}

/**
 * Session keys for the packet `index` (RFC 3711 §4.3). kdr is the key derivation rate: 0 (derive once, the
 * default and what Lync and SDES use) or a power of two up to 2^24 (§4.3.1).
 */
export function deriveSessionKeys(masterKey: Buffer, masterSalt: Buffer, kdr = 0, index = 0): SrtpSessionKeys {
  checkMasterKey(masterKey, masterSalt);
  const r = keyIdRate(kdr, index);
  const aes = new AesCm(masterKey);
  return {
    rtpKey: prf(aes, masterSalt, KdfLabel.RtpEncryption, r, 16),
    rtpAuth: prf(aes, masterSalt, KdfLabel.RtpAuth, r, 20),
    rtpSalt: prf(aes, masterSalt, KdfLabel.RtpSalt, r, 14),
    rtcpKey: prf(aes, masterSalt, KdfLabel.RtcpEncryption, r, 16),
    rtcpAuth: prf(aes, masterSalt, KdfLabel.RtcpAuth, r, 20),
    rtcpSalt: prf(aes, masterSalt, KdfLabel.RtcpSalt, r, 14),
  };
}
