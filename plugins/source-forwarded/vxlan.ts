/**
 * VXLAN (RFC 7348 §5): an 8-byte header — flags (the I bit, 0x08, says the VNI is valid; the other bits are
 * reserved, ignored on receipt), 24 reserved bits, the 24-bit VNI, 8 reserved bits — then the inner Ethernet frame
 * (without its FCS). Cloud traffic mirroring (AWS, Azure vTAP, GCP) sends mirrored frames this way to UDP 4789.
 * Decoding never throws: the result says where the frame is, or why there is none.
 */

export const VXLAN_DEFAULT_PORT = 4789;
export const VXLAN_HEADER_LEN = 8;
/** RFC 7348 §5: "I flag MUST be set to 1 for a valid VXLAN Network ID". */
const FLAG_I = 0x08;
const ETHERNET_HEADER_LEN = 14;

export type VxlanError =
  /** Shorter than the 8-byte header. */
  | 'truncated'
  /** The I flag is clear: no valid VNI. */
  | 'no-vni'
  /** The inner frame is shorter than an Ethernet header. */
  | 'short-frame'
  /** The VNI is not one the listener accepts (counted, not an error of the sender). */
  | 'vni-filtered';

export type VxlanResult = { ok: true; vni: number; frameOffset: number } | { ok: false; error: VxlanError };

/** Decodes a VXLAN datagram; `vnis`, when given, is the set of VNIs to accept. Allocates only the result. */
export function decodeVxlan(buf: Buffer, vnis?: ReadonlySet<number>): VxlanResult {
  if (buf.length < VXLAN_HEADER_LEN) return { ok: false, error: 'truncated' };
  if (((buf[0] as number) & FLAG_I) === 0) return { ok: false, error: 'no-vni' };
  const vni = ((buf[4] as number) << 16) | ((buf[5] as number) << 8) | (buf[6] as number);
  if (vnis !== undefined && !vnis.has(vni)) return { ok: false, error: 'vni-filtered' };
  if (buf.length - VXLAN_HEADER_LEN < ETHERNET_HEADER_LEN) return { ok: false, error: 'short-frame' };
  return { ok: true, vni, frameOffset: VXLAN_HEADER_LEN };
}

/** Builds a VXLAN datagram (I flag set, reserved bits zero) around an Ethernet frame: for tests and tools. */
export function encodeVxlan(vni: number, frame: Buffer): Buffer {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new RangeError(`VNI ${vni} is not 24 bits`);
  const h = Buffer.alloc(VXLAN_HEADER_LEN);
  h[0] = FLAG_I;
  h[4] = vni >>> 16;
  h[5] = (vni >>> 8) & 0xff;
  h[6] = vni & 0xff;
  return Buffer.concat([h, frame]);
}
