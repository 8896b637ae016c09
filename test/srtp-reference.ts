/**
 * An SRTP implementation independent of core/media/srtp for the tests to check against: libsrtp2 through
 * Debian's python3-pylibsrtp (`apt-get install python3-pylibsrtp`). A small Python script, run with
 * child_process, protects or unprotects a batch of packets given as JSON.
 *
 * pylibsrtp 0.8 wraps only srtp_protect/unprotect(_rtcp) without MKI and cannot set a ROC. For those the
 * script calls libsrtp2's own srtp_protect_mki / srtp_set_stream_roc through ctypes on the very libsrtp2.so.1
 * that pylibsrtp loaded, on the session pylibsrtp created: still libsrtp doing the cryptography.
 */
import { spawnSync } from 'node:child_process';
import type { SrtpSuite } from '../core/media/srtp';

const SCRIPT = String.raw`
import ctypes, json, sys
import pylibsrtp
from pylibsrtp._binding import ffi

C = ctypes.CDLL('libsrtp2.so.1')  # already loaded by pylibsrtp: the same library instance
PTR = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_uint]
for name, extra in (('srtp_protect_mki', [ctypes.c_uint]), ('srtp_protect_rtcp_mki', [ctypes.c_uint]),
                    ('srtp_unprotect_mki', []), ('srtp_unprotect_rtcp_mki', [])):
    getattr(C, name).restype = ctypes.c_int
    getattr(C, name).argtypes = PTR + extra
C.srtp_set_stream_roc.restype = ctypes.c_int
C.srtp_set_stream_roc.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
C.srtp_get_stream_roc.restype = ctypes.c_int
C.srtp_get_stream_roc.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)]

class MasterKey(ctypes.Structure):  # srtp_master_key_t of libsrtp 2.x
    _fields_ = [('key', ctypes.c_void_p), ('mki_id', ctypes.c_void_p), ('mki_size', ctypes.c_uint)]

def run(req):
    # One job: a fresh libsrtp session (policy, key, MKI, ROC) and its batch of packets, in order.
    op = req['op']
    Policy = pylibsrtp.Policy
    prof = Policy.SRTP_PROFILE_AES128_CM_SHA1_80 if req['suite'] == 'AES_CM_128_HMAC_SHA1_80' else Policy.SRTP_PROFILE_AES128_CM_SHA1_32
    key = bytes.fromhex(req['key'])
    mki = bytes.fromhex(req.get('mki') or '')
    ssrc = req.get('ssrc')
    policy = Policy(key=key, srtp_profile=prof)
    if ssrc is not None:
        policy.ssrc_type = Policy.SSRC_SPECIFIC
        policy.ssrc_value = ssrc
    else:
        policy.ssrc_type = Policy.SSRC_ANY_OUTBOUND if op.startswith('protect') else Policy.SSRC_ANY_INBOUND
    if req.get('window'):
        policy.window_size = req['window']
    keep = []
    if mki:
        # srtp_policy_t fields pylibsrtp's cdef leaves out: key = NULL, keys = [&master_key], num_master_keys = 1.
        if ffi.offsetof('srtp_policy_t', 'key') != 56 or ffi.offsetof('srtp_policy_t', 'window_size') != 88:
            sys.exit('unexpected srtp_policy_t layout: cannot set an MKI')
        kbuf = ctypes.create_string_buffer(key, len(key))
        mbuf = ctypes.create_string_buffer(mki, len(mki))
        mk = MasterKey(ctypes.cast(kbuf, ctypes.c_void_p), ctypes.cast(mbuf, ctypes.c_void_p), len(mki))
        arr = (ctypes.POINTER(MasterKey) * 1)(ctypes.pointer(mk))
        keep += [kbuf, mbuf, mk, arr]
        base = int(ffi.cast('uintptr_t', policy._policy))
        policy._policy.key = ffi.NULL
        ctypes.c_void_p.from_address(base + 64).value = ctypes.addressof(arr)
        ctypes.c_ulong.from_address(base + 72).value = 1
    session = pylibsrtp.Session(policy)
    handle = int(ffi.cast('uintptr_t', session._srtp[0]))
    if req.get('roc') is not None:
        rc = C.srtp_set_stream_roc(handle, ssrc, req['roc'])
        if rc != 0:
            sys.exit('srtp_set_stream_roc failed: %d' % rc)
    plain = {'protect': session.protect, 'protect_rtcp': session.protect_rtcp,
             'unprotect': session.unprotect, 'unprotect_rtcp': session.unprotect_rtcp}[op]
    buf = ctypes.create_string_buffer(4096)
    n = ctypes.c_int(0)
    out = []
    for h in req['packets']:
        p = bytes.fromhex(h)
        if not mki:
            try:
                out.append(bytes(plain(p)).hex())
            except pylibsrtp.Error:
                out.append(None)
            continue
        ctypes.memmove(buf, p, len(p))
        n.value = len(p)
        f = getattr(C, 'srtp_' + op + '_mki')
        rc = f(handle, buf, ctypes.byref(n), 1, 0) if op.startswith('protect') else f(handle, buf, ctypes.byref(n), 1)
        out.append(buf.raw[:n.value].hex() if rc == 0 else None)
    res = {'packets': out}
    if ssrc is not None:
        roc = ctypes.c_uint32(0)
        if C.srtp_get_stream_roc(handle, ssrc, ctypes.byref(roc)) == 0:
            res['roc'] = roc.value
    return res

data = json.load(sys.stdin)
# {'jobs': [...]}: many sessions in one interpreter (a python start costs ~0.1 s); else one job.
result = [run(j) for j in data['jobs']] if 'jobs' in data else run(data)
json.dump(result, sys.stdout)
`;

export interface LibsrtpRequest {
  op: 'protect' | 'protect_rtcp' | 'unprotect' | 'unprotect_rtcp';
  suite: SrtpSuite;
  masterKey: Buffer;
  masterSalt: Buffer;
  /** MKI bytes (length = MKI length) to put before the tag; uses srtp_protect_mki. */
  mki?: Buffer;
  /** Bind the policy to this SSRC (needed for `roc`); otherwise any SSRC. */
  ssrc?: number;
  /** ROC to start the stream at (srtp_set_stream_roc); keep the first sequence number below 32768. */
  roc?: number;
  /** libsrtp replay window (default 128). */
  window?: number;
  packets: Buffer[];
}

export interface LibsrtpResult {
  /** One entry per input packet; null where libsrtp refused it (auth failure, replay…). */
  packets: Array<Buffer | null>;
  /** libsrtp's ROC for `ssrc` after the batch, when an SSRC was given. */
  roc?: number;
}

/** Interpreters tried in turn: Debian's python3 first (a pyenv python3 on PATH does not see dist-packages). */
const CANDIDATES = [process.env.TAPLINE_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => p !== undefined && p !== '');

function findPython(): string | undefined {
  for (const py of CANDIDATES) {
    const r = spawnSync(py, ['-c', 'import pylibsrtp, ctypes; ctypes.CDLL("libsrtp2.so.1")'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** The python3 that has pylibsrtp, or undefined when none does. */
export const libsrtpPython: string | undefined = findPython();
export const haveLibsrtp = libsrtpPython !== undefined;
export const LIBSRTP_MISSING = 'python3-pylibsrtp (libsrtp2) is not installed: apt-get install python3-pylibsrtp';

type JobJson = { packets: Array<string | null>; roc?: number };

function jobJson(req: LibsrtpRequest): Record<string, unknown> {
  return {
    op: req.op,
    suite: req.suite,
    key: Buffer.concat([req.masterKey, req.masterSalt]).toString('hex'),
    mki: req.mki?.toString('hex'),
    ssrc: req.ssrc,
    roc: req.roc,
    window: req.window,
    packets: req.packets.map((p) => p.toString('hex')),
  };
}

function fromJson(parsed: JobJson): LibsrtpResult {
  const res: LibsrtpResult = { packets: parsed.packets.map((h) => (h === null ? null : Buffer.from(h, 'hex'))) };
  if (parsed.roc !== undefined) res.roc = parsed.roc;
  return res;
}

function runScript(input: string): unknown {
  if (libsrtpPython === undefined) throw new Error(LIBSRTP_MISSING);
  const r = spawnSync(libsrtpPython, ['-c', SCRIPT], { input, maxBuffer: 1024 * 1024 * 1024, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`libsrtp reference script failed (${String(r.status ?? r.signal)}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Runs one batch through libsrtp2. Throws when pylibsrtp is missing or the script fails. */
export function libsrtp(req: LibsrtpRequest): LibsrtpResult {
  return fromJson(runScript(JSON.stringify(jobJson(req))) as JobJson);
}

/**
 * Runs many batches in one python process, each on a session of its own (so one sender's packets under one key
 * go in one request, and libsrtp carries the ROC across that batch as a real sender would). Same order out as in.
 */
export function libsrtpMany(reqs: readonly LibsrtpRequest[]): LibsrtpResult[] {
  if (reqs.length === 0) return [];
  const out = runScript(JSON.stringify({ jobs: reqs.map(jobJson) })) as JobJson[];
  if (out.length !== reqs.length) throw new Error(`libsrtp reference script answered ${out.length} of ${reqs.length} jobs`);
  return out.map(fromJson);
}

let warned = false;
/** describe() that skips, saying why, when pylibsrtp is not installed. */
export function describeLibsrtp(title: string, fn: (this: Mocha.Suite) => void): void {
  if (haveLibsrtp) {
    describe(title, fn);
    return;
  }
  if (!warned) {
    warned = true;
    console.warn(`\n  [tapline] ${LIBSRTP_MISSING}; tests against libsrtp are skipped.\n`);
  }
  // The suite's own body is not run: it may call libsrtp while defining its tests.
  describe.skip(`${title} (skipped: ${LIBSRTP_MISSING})`, () => {
    it('needs libsrtp2 (python3-pylibsrtp)', () => undefined);
  });
}
