/** Cheap checks for "this datagram / stream starts with a SIP message", run on every UDP packet. */

const S = 0x53; // 'S'
const SIP_VERSION = Buffer.from(' SIP/2.0');
const MAX_START_LINE = 4096;

/** True when the bytes start with a SIP request line ("METHOD uri SIP/2.0") or status line ("SIP/2.0 NNN"). */
export function looksLikeSip(buf: Buffer, offset = 0): boolean {
  const len = buf.length - offset;
  if (len < 12) return false;
  const b0 = buf[offset]!;
  if (b0 < 0x41 || b0 > 0x5a) return false; // methods and "SIP/2.0" start with an upper-case letter
  if (b0 === S && buf[offset + 1] === 0x49 && buf[offset + 2] === 0x50 && buf[offset + 3] === 0x2f && buf[offset + 7] === 0x20) return true;
  // Request line: find the end of the first line and check it ends with " SIP/2.0".
  const end = Math.min(buf.length, offset + MAX_START_LINE);
  for (let i = offset; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x0d || c === 0x0a) {
      const start = i - SIP_VERSION.length;
      return start > offset && buf.compare(SIP_VERSION, 0, SIP_VERSION.length, start, i) === 0;
    }
    if (c < 0x20 && c !== 0x09) return false; // binary: RTP, STUN, TLS
  }
  return false;
}

/** A CRLF keep-alive ("\r\n\r\n" or "\r\n", RFC 5626) carries nothing to parse. */
export function isKeepAlive(buf: Buffer): boolean {
  for (const c of buf) if (c !== 0x0d && c !== 0x0a && c !== 0x00 && c !== 0x20) return false;
  return true;
}
