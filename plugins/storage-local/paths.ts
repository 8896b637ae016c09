/**
 * Safe file and folder names from untrusted text. A Call-ID (or any SIP header) may hold anything: '../',
 * NUL, CR/LF, drive letters, bidi overrides, Windows device names, thousands of characters. What reaches the
 * file system is NFC-normalised, limited to letters, digits and - _ . @ +, everything else percent-encoded
 * (UTF-8 bytes, so the mapping stays one-to-one), and bounded in bytes.
 */
import * as path from 'node:path';

/** Default bound, in UTF-8 bytes, of a name made by safeName (ext4 and NTFS allow 255 per component). */
export const SAFE_NAME_MAX_BYTES = 80;

/** Letters and combining marks of any script, decimal digits, and - _ . @ + */
const SAFE_CHAR = /^[\p{L}\p{M}\p{Nd}\-_.@+]$/u;
/** Windows device names, refused even with an extension ('CON.txt'). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\.|$)/i;

/** Lone UTF-16 surrogates (possible in JS strings, impossible in UTF-8) as U+FFFD, so text round-trips through files and SQLite. */
export function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

function percentEncode(ch: string): string {
  let out = '';
  for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

/**
 * A single path component that is safe on Linux, macOS and Windows and cannot escape its parent folder.
 * Distinct inputs may share a result only when truncated; callers add a unique id to keep names apart.
 */
export function safeName(input: string, maxBytes = SAFE_NAME_MAX_BYTES): string {
  const text = wellFormed(input).normalize('NFC');
  const parts: string[] = [];
  for (const ch of text) parts.push(SAFE_CHAR.test(ch) ? ch : percentEncode(ch));
  // Leading dots make hidden files and '.'/'..'; trailing dots are dropped by Windows: encode both.
  for (let i = 0; i < parts.length && parts[i] === '.'; i++) parts[i] = '%2E';
  for (let i = parts.length - 1; i >= 0 && parts[i] === '.'; i--) parts[i] = '%2E';

  // Truncate on whole characters (never inside a %XX group or a surrogate pair).
  let out = '';
  let bytes = 0;
  for (const p of parts) {
    const n = Buffer.byteLength(p, 'utf8');
    if (bytes + n > maxBytes) break;
    out += p;
    bytes += n;
  }
  if (out === '') return '_';
  if (out.endsWith('.')) out = out.slice(0, -1) + '%2E'; // truncation may have exposed a dot
  return WINDOWS_DEVICE.test(out) ? '_' + out : out;
}

/** 'date': YYYY/MM/DD/<HHMMSS>_<call>_<id>/ ; 'flat': <YYYYMMDD>T<HHMMSS>_<call>_<id>/ (UTC, like the catalogue). */
export type Layout = 'date' | 'flat';

/** The folder of one recording under `root`; throws if the result would leave `root` (defence in depth). */
export function recordingDir(root: string, layout: Layout, startUs: number, callId: string, id: string): string {
  const d = new Date(Math.floor(startUs / 1000));
  if (Number.isNaN(d.getTime())) throw new RangeError(`recording ${id}: start time ${startUs} is not a valid time`);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const ymd = [String(d.getUTCFullYear()).padStart(4, '0'), p2(d.getUTCMonth() + 1), p2(d.getUTCDate())];
  const hms = p2(d.getUTCHours()) + p2(d.getUTCMinutes()) + p2(d.getUTCSeconds());
  // The id is the core's (a UUID) but is made safe too: it is still just a string to this module.
  const leaf = `${hms}_${safeName(callId)}_${safeName(id, 64)}`;
  const dir = layout === 'date' ? path.join(root, ...ymd, leaf) : path.join(root, `${ymd.join('')}T${leaf}`);
  assertInside(root, dir);
  return dir;
}

/** Throws unless `p` is strictly inside `root`. */
export function assertInside(root: string, p: string): void {
  const rel = path.relative(path.resolve(root), path.resolve(p));
  if (rel === '' || rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) {
    throw new RangeError(`refusing path outside the recordings folder: ${p}`);
  }
}
