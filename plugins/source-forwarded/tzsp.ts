/**
 * TZSP, the TaZmen Sniffer Protocol (MikroTik's "sniff-tzsp" and packet sniffer streaming; UDP 37008, 0x9090).
 * Written from the protocol description Wireshark's dissector cites (Network Chemistry app note AN001):
 *
 *   version (u8, 1) · type (u8) · encapsulated protocol (u16 BE) · tagged fields · encapsulated frame
 *
 * Types: 0 received tag list (a captured packet), 1 packet for transmit, 2 reserved, 3 configuration,
 * 4 keepalive, 5 port opener; only 0 and 1 carry a frame, 4 and 5 have no tags and no frame. Tagged fields:
 * tag 0 is one byte of padding, tag 1 ends the list, every other tag is tag · length (u8) · value. Tag 41
 * (original length, u16) gives the frame's length on the wire when the sensor cut it. Encapsulation 1 is Ethernet,
 * the only one Tapline decodes (18 and the radio headers are 802.11). Decoding never throws.
 */

export const TZSP_DEFAULT_PORT = 37008;
export const TZSP_VERSION = 1;

export const TzspType = {
  RECEIVED: 0,
  TRANSMIT: 1,
  RESERVED: 2,
  CONFIG: 3,
  KEEPALIVE: 4,
  PORT_OPENER: 5,
} as const;

export const TzspEncap = {
  ETHERNET: 1,
  IEEE_802_11: 18,
} as const;

export const TzspTag = {
  PADDING: 0,
  END: 1,
  ORIGINAL_LENGTH: 41,
} as const;

const HEADER_LEN = 4;
const ETHERNET_HEADER_LEN = 14;

export type TzspError =
  | 'truncated'
  | 'unsupported-version'
  /** Keepalive, port opener, configuration: no packet (not an error of the sender; counted). */
  | 'no-packet'
  | 'unsupported-encapsulation'
  /** A tag's length runs past the datagram, or the list never ends. */
  | 'bad-tag'
  | 'short-frame';

export type TzspResult =
  | { ok: true; type: number; encapsulation: number; frameOffset: number; origLen: number | undefined }
  | { ok: false; error: TzspError };

export function decodeTzsp(buf: Buffer): TzspResult {
  const len = buf.length;
  if (len < HEADER_LEN) return { ok: false, error: 'truncated' };
  if (buf[0] !== TZSP_VERSION) return { ok: false, error: 'unsupported-version' };
  const type = buf[1] as number;
  if (type !== TzspType.RECEIVED && type !== TzspType.TRANSMIT) return { ok: false, error: 'no-packet' };
  const encapsulation = ((buf[2] as number) << 8) | (buf[3] as number);
  let pos = HEADER_LEN;
  let origLen: number | undefined;
  for (;;) {
    if (pos >= len) return { ok: false, error: 'bad-tag' };
    const tag = buf[pos] as number;
    if (tag === TzspTag.END) {
      pos++;
      break;
    }
    if (tag === TzspTag.PADDING) {
      pos++;
      continue;
    }
    if (pos + 2 > len) return { ok: false, error: 'bad-tag' };
    const tlen = buf[pos + 1] as number;
    if (pos + 2 + tlen > len) return { ok: false, error: 'bad-tag' };
    if (tag === TzspTag.ORIGINAL_LENGTH && tlen === 2) origLen = ((buf[pos + 2] as number) << 8) | (buf[pos + 3] as number);
    pos += 2 + tlen;
  }
  if (encapsulation !== TzspEncap.ETHERNET) return { ok: false, error: 'unsupported-encapsulation' };
  if (len - pos < ETHERNET_HEADER_LEN) return { ok: false, error: 'short-frame' };
  return { ok: true, type, encapsulation, frameOffset: pos, origLen };
}

export interface TzspTagField {
  tag: number;
  value: Buffer;
}

/**
 * Builds a TZSP datagram: header, the given tags (with `padding` padding bytes first), the end tag, the frame.
 * Written from the same description as the decoder, for tests; cross-checked against tshark's TZSP dissector.
 */
export function encodeTzsp(frame: Buffer, opts: { type?: number; encapsulation?: number; tags?: readonly TzspTagField[]; padding?: number } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([TZSP_VERSION, opts.type ?? TzspType.RECEIVED, 0, 0])];
  (parts[0] as Buffer).writeUInt16BE(opts.encapsulation ?? TzspEncap.ETHERNET, 2);
  if ((opts.padding ?? 0) > 0) parts.push(Buffer.alloc(opts.padding ?? 0, TzspTag.PADDING));
  for (const t of opts.tags ?? []) {
    if (t.value.length > 255) throw new RangeError(`TZSP tag ${t.tag} value is longer than 255 bytes`);
    parts.push(Buffer.from([t.tag, t.value.length]), t.value);
  }
  parts.push(Buffer.from([TzspTag.END]), frame);
  return Buffer.concat(parts);
}

/** The tag-41 field giving a frame's length on the wire. */
export function tzspOriginalLength(n: number): TzspTagField {
  const v = Buffer.alloc(2);
  v.writeUInt16BE(n);
  return { tag: TzspTag.ORIGINAL_LENGTH, value: v };
}
