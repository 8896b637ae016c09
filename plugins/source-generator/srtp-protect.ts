/**
 * SRTP protection of a sender's RTP (RFC 3711: AES_CM_128_HMAC_SHA1_80, default KDF with kdr 0) with an MKI, as a
 * Lync client sends it with its `|2^31|1:1` key: `header | encrypted payload | MKI | 10-byte tag`. Built on
 * node:crypto only, so the recorder's own SRTP code checks something it did not write.
 */
import { createCipheriv, createHmac } from 'node:crypto';

const TAG = 10;

/** RFC 3711 §4.3.1 with kdr 0: AES-CM keystream of the master key at IV = (salt XOR label << 48) << 16. */
function derive(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7] = (iv[7] as number) ^ label;
  return createCipheriv('aes-128-ctr', masterKey, iv).update(Buffer.alloc(length));
}

export class SrtpProtector {
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private readonly auth: Buffer;
  private readonly mki: Buffer;
  /** Highest packet index sent per SSRC (ROC << 16 | seq), to carry the rollover counter. */
  private readonly highest = new Map<number, number>();

  /** `keySalt`: the SDES inline key (16-byte key ‖ 14-byte salt, base64); `mki`: its MKI value bytes (e.g. [1]). */
  constructor(keySalt: string, mki: Buffer) {
    const ks = Buffer.from(keySalt, 'base64');
    if (ks.length !== 30) throw new RangeError(`SRTP inline key must be 30 bytes, got ${ks.length}`);
    const masterKey = ks.subarray(0, 16);
    const masterSalt = ks.subarray(16);
    this.key = derive(masterKey, masterSalt, 0, 16);
    this.auth = derive(masterKey, masterSalt, 1, 20);
    this.salt = derive(masterKey, masterSalt, 2, 14);
    this.mki = Buffer.from(mki);
  }

  /** The protected packet of one RTP packet with a 12-byte header (no CSRC, no extension). */
  protect(rtp: Buffer): Buffer {
    const seq = rtp.readUInt16BE(2);
    const ssrc = rtp.readUInt32BE(8);
    const index = this.indexOf(ssrc, seq);
    const roc = Math.floor(index / 0x10000);
    // IV = (salt << 16) XOR (SSRC << 64) XOR (index << 16) (RFC 3711 §4.1.1).
    const iv = Buffer.alloc(16);
    this.salt.copy(iv, 0);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt16BE(iv.readUInt16BE(8) ^ Math.floor(roc / 0x10000), 8);
    iv.writeUInt32BE((iv.readUInt32BE(10) ^ (((roc & 0xffff) << 16) | seq)) >>> 0, 10);
    const enc = createCipheriv('aes-128-ctr', this.key, iv).update(rtp.subarray(12));
    const header = rtp.subarray(0, 12);
    const tag = createHmac('sha1', this.auth).update(header).update(enc).update(Buffer.from([roc >>> 24, (roc >>> 16) & 0xff, (roc >>> 8) & 0xff, roc & 0xff])).digest().subarray(0, TAG);
    return Buffer.concat([header, enc, this.mki, tag]);
  }

  /** The sender's packet index: the sequence number extended by the rollovers so far (reordering kept in mind). */
  private indexOf(ssrc: number, seq: number): number {
    const hi = this.highest.get(ssrc);
    if (hi === undefined) {
      this.highest.set(ssrc, seq);
      return seq;
    }
    let roc = Math.floor(hi / 0x10000);
    const last = hi % 0x10000;
    if (last < 0x8000 && seq - last > 0x8000) roc--;
    else if (last >= 0x8000 && last - 0x8000 > seq) roc++;
    const index = Math.max(0, roc) * 0x10000 + seq;
    if (index > hi) this.highest.set(ssrc, index);
    return index;
  }
}
