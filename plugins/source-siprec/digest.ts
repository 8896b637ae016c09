/**
 * SIP digest authentication of SRCs (RFC 3261 §22.4, RFC 2617 qop=auth; MD5 and SHA-256 per RFC 8760): a new
 * recording session's INVITE without valid credentials is challenged with 401. Nonces are stateless (a time and
 * an HMAC of it with a secret of this process), valid for five minutes; an expired one is challenged again with
 * stale=true, so the SRC retries without asking its operator. Responses are compared in constant time.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SipRequest } from '../../core/sip/types';

const NONCE_TTL_MS = 5 * 60_000;

export type DigestResult = { ok: true; username: string } | { ok: false; stale: boolean; reason: string };

/** Parameters of a Digest Authorization header (quoted or token values). */
export function parseDigest(value: string): Record<string, string> | undefined {
  const m = /^\s*Digest\s+/i.exec(value);
  if (m === null) return undefined;
  const out: Record<string, string> = {};
  const re = /\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|$)/gy;
  re.lastIndex = m[0].length;
  for (let r = re.exec(value); r !== null; r = re.exec(value)) {
    const name = (r[1] as string).toLowerCase();
    if (name === '__proto__' || Object.hasOwn(out, name)) continue;
    out[name] = r[2] !== undefined ? r[2].replace(/\\(.)/g, '$1') : (r[3] as string);
    if (re.lastIndex >= value.length) break;
  }
  return out;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5').update(text, 'utf8').digest('hex');
}

export type DigestAlgorithm = 'SHA-256' | 'MD5';

/**
 * The response a client with this password computes for the parameters it sent (RFC 2617 §3.2.2 with qop=auth,
 * or RFC 2069 without qop; the hash is the algorithm's, RFC 7616 §3.4.1).
 */
export function digestResponse(p: Readonly<Record<string, string>>, method: string, password: string, algorithm: DigestAlgorithm): string {
  const ha1 = hash(algorithm, `${p.username ?? ''}:${p.realm ?? ''}:${password}`);
  const ha2 = hash(algorithm, `${method}:${p.uri ?? ''}`);
  return p.qop?.toLowerCase() === 'auth' ? hash(algorithm, `${ha1}:${p.nonce ?? ''}:${p.nc ?? ''}:${p.cnonce ?? ''}:auth:${ha2}`) : hash(algorithm, `${ha1}:${p.nonce ?? ''}:${ha2}`);
}

export class DigestAuth {
  private readonly secret = randomBytes(32);

  /** `algorithms` in order of preference: a 401 carries one challenge each, the first the most preferred (RFC 8760 §2.4). */
  constructor(
    readonly realm: string,
    private readonly passwords: ReadonlyMap<string, string>,
    readonly algorithms: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'],
  ) {}

  private nonce(now = Date.now()): string {
    const t = now.toString(36);
    return `${t}.${createHmac('sha256', this.secret).update(t).digest('base64url').slice(0, 22)}`;
  }

  private nonceState(nonce: string): 'ok' | 'stale' | 'bad' {
    const [t, mac] = nonce.split('.');
    if (t === undefined || mac === undefined) return 'bad';
    const expect = createHmac('sha256', this.secret).update(t).digest('base64url').slice(0, 22);
    if (mac.length !== expect.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expect))) return 'bad';
    return Date.now() - parseInt(t, 36) > NONCE_TTL_MS ? 'stale' : 'ok';
  }

  /**
   * The WWW-Authenticate header lines of a 401, most preferred first. Some SRCs read only the first challenge
   * (SIPp does), so an MD5-only SRC needs `algorithms: ['MD5']` or MD5 first.
   */
  challenge(stale = false): string[] {
    const nonce = this.nonce();
    const common = `realm="${this.realm.replace(/"/g, '')}", nonce="${nonce}", qop="auth"${stale ? ', stale=true' : ''}`;
    return this.algorithms.map((a) => `WWW-Authenticate: Digest ${common}, algorithm=${a}`);
  }

  verify(req: SipRequest): DigestResult {
    const header = req.headers.getAll('Authorization').find((h) => /^\s*Digest\s/i.test(h));
    if (header === undefined) return { ok: false, stale: false, reason: 'no credentials' };
    const p = parseDigest(header);
    if (p === undefined || p.username === undefined || p.nonce === undefined || p.response === undefined || p.uri === undefined) return { ok: false, stale: false, reason: 'malformed Authorization' };
    if (p.realm !== this.realm) return { ok: false, stale: false, reason: `realm "${p.realm ?? ''}" is not "${this.realm}"` };
    const algorithm = (p.algorithm ?? 'MD5').toUpperCase() as DigestAlgorithm;
    if (!this.algorithms.includes(algorithm)) return { ok: false, stale: false, reason: `algorithm ${algorithm} is not accepted (${this.algorithms.join(', ')})` };
    const state = this.nonceState(p.nonce);
    if (state === 'bad') return { ok: false, stale: false, reason: 'a nonce this server did not issue' };
    const password = this.passwords.get(p.username);
    if (password === undefined) return { ok: false, stale: false, reason: `unknown user ${p.username}` };
    const qop = p.qop?.toLowerCase();
    if (qop !== undefined && qop !== 'auth') return { ok: false, stale: false, reason: `qop ${qop} is not supported` };
    const expect = digestResponse(p, req.method, password, algorithm);
    const got = p.response.toLowerCase();
    if (got.length !== expect.length || !timingSafeEqual(Buffer.from(got), Buffer.from(expect))) return { ok: false, stale: false, reason: `wrong password for ${p.username}` };
    if (state === 'stale') return { ok: false, stale: true, reason: 'the nonce expired' };
    return { ok: true, username: p.username };
  }
}

/** `user:password` lines (# comments, blank lines ignored). */
export function readCredentials(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) return;
    const c = l.indexOf(':');
    if (c <= 0) throw new Error(`${file}:${i + 1}: expected "username:password"`);
    out.set(l.slice(0, c), l.slice(c + 1));
  });
  if (out.size === 0) throw new Error(`${file}: no credentials`);
  return out;
}
