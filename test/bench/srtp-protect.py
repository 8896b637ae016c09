#!/usr/bin/python3
"""
SRTP for the srtp bench, by libsrtp2 (Debian's python3-pylibsrtp), not by Tapline's code: reads a classic
Ethernet pcap whose RTP is clear, protects the RTP of every flow named in KEYS.json with that sender's key
(and MKI), and writes the same capture with SRTP: IPv4 total length, header checksum and UDP length grow by
the tag and MKI, the UDP checksum stays 0 (the generator writes none). Every other frame (SIP, fragments,
flows without a key) is copied unchanged.

    /usr/bin/python3 srtp-protect.py IN.pcap OUT.pcap KEYS.json
    KEYS.json: {"flows": [{"src": "10.1.0.1:20000", "key": "<60 hex: master key + salt>", "mki": "01" or ""}]}

Prints {"protected": n, "copied": n, "flows": n, "sessions": n} as JSON. One libsrtp session per flow (a sender
and its key), SSRC_ANY_OUTBOUND, packets in capture order: libsrtp keeps each stream's ROC as a sender would.
pylibsrtp 0.8 cannot set an MKI: as in test/srtp-reference.ts, the session pylibsrtp creates gets its master key
through the srtp_policy_t fields pylibsrtp's cdef leaves out, and packets go through libsrtp2's own
srtp_protect_mki via ctypes, on the libsrtp2.so.1 instance pylibsrtp loaded.
"""
import ctypes
import json
import struct
import sys

import pylibsrtp
from pylibsrtp._binding import ffi

C = ctypes.CDLL('libsrtp2.so.1')  # already loaded by pylibsrtp: the same library instance
C.srtp_protect_mki.restype = ctypes.c_int
C.srtp_protect_mki.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_uint, ctypes.c_uint]


class MasterKey(ctypes.Structure):  # srtp_master_key_t of libsrtp 2.x
    _fields_ = [('key', ctypes.c_void_p), ('mki_id', ctypes.c_void_p), ('mki_size', ctypes.c_uint)]


KEEP = []  # ctypes buffers and pylibsrtp objects that sessions point into


def session(key, mki):
    """A libsrtp sending session for one flow: its srtp_t handle as an int."""
    Policy = pylibsrtp.Policy
    policy = Policy(key=key, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    policy.ssrc_type = Policy.SSRC_ANY_OUTBOUND
    if mki:
        if ffi.offsetof('srtp_policy_t', 'key') != 56 or ffi.offsetof('srtp_policy_t', 'window_size') != 88:
            sys.exit('unexpected srtp_policy_t layout: cannot set an MKI')
        kbuf = ctypes.create_string_buffer(key, len(key))
        mbuf = ctypes.create_string_buffer(mki, len(mki))
        mk = MasterKey(ctypes.cast(kbuf, ctypes.c_void_p), ctypes.cast(mbuf, ctypes.c_void_p), len(mki))
        arr = (ctypes.POINTER(MasterKey) * 1)(ctypes.pointer(mk))
        KEEP.extend([kbuf, mbuf, mk, arr])
        base = int(ffi.cast('uintptr_t', policy._policy))
        policy._policy.key = ffi.NULL
        ctypes.c_void_p.from_address(base + 64).value = ctypes.addressof(arr)  # keys
        ctypes.c_ulong.from_address(base + 72).value = 1  # num_master_keys
    s = pylibsrtp.Session(policy)
    KEEP.extend([policy, s])
    return int(ffi.cast('uintptr_t', s._srtp[0]))


def main(src, dst, keys_file):
    with open(keys_file) as f:
        flows = json.load(f)['flows']
    by_src = {}
    for fl in flows:
        ip, port = fl['src'].rsplit(':', 1)
        k = bytes(int(x) for x in ip.split('.')) + struct.pack('!H', int(port))
        mki = bytes.fromhex(fl.get('mki') or '')
        # AES_CM_128_HMAC_SHA1_80: an 80-bit tag, after the MKI.
        by_src[k] = (session(bytes.fromhex(fl['key']), mki), 1 if mki else 0, 10 + len(mki))

    with open(src, 'rb') as f:
        data = f.read()
    magic = struct.unpack_from('<I', data, 0)[0]
    if magic not in (0xa1b2c3d4, 0xa1b23c4d):
        sys.exit('%s: not a little-endian classic pcap' % src)
    if struct.unpack_from('<I', data, 20)[0] != 1:
        sys.exit('%s: link type is not Ethernet' % src)

    buf = ctypes.create_string_buffer(4096)
    n = ctypes.c_int(0)
    n_ref = ctypes.byref(n)
    protect = C.srtp_protect_mki
    memmove = ctypes.memmove
    string_at = ctypes.string_at
    out = open(dst, 'wb', buffering=1 << 22)
    w = out.write
    w(data[:24])
    protected = copied = 0
    off = 24
    end = len(data)
    rec = struct.Struct('<IIII')
    u16 = struct.Struct('!H')
    while off + 16 <= end:
        sec, frac, incl, orig = rec.unpack_from(data, off)
        start = off
        off += 16 + incl
        p = data[start + 16:off]
        hit = None
        # Ethernet II + IPv4, not a fragment, UDP, from a flow with a key, RTP version 2 (not RTCP 72-76).
        if incl >= 54 and p[12] == 8 and p[13] == 0 and p[23] == 17 and (p[20] & 0x3f) == 0 and p[21] == 0:
            u = 14 + (p[14] & 15) * 4
            hit = by_src.get(p[26:30] + p[u:u + 2])
            if hit is not None and ((p[u + 8] >> 6) != 2 or 72 <= (p[u + 9] & 0x7f) <= 76):
                hit = None
        if hit is None:
            w(data[start:off])
            copied += 1
            continue
        handle, use_mki, grow = hit
        rtp_len = incl - u - 8
        memmove(buf, p[u + 8:], rtp_len)
        n.value = rtp_len
        rc = protect(handle, buf, n_ref, use_mki, 0)
        if rc != 0 or n.value != rtp_len + grow:
            sys.exit('srtp_protect_mki failed (%d, %d bytes) on frame %d' % (rc, n.value, protected + copied + 1))
        # IPv4 total length + grow; its checksum updated incrementally (RFC 1624, eqn. 3); UDP length + grow, no checksum.
        c = (~u16.unpack_from(p, 24)[0] & 0xffff) + grow
        c = (c & 0xffff) + (c >> 16)
        w(rec.pack(sec, frac, incl + grow, orig + grow) + p[:16] + u16.pack(u16.unpack_from(p, 16)[0] + grow) + p[18:24] +
          u16.pack(~c & 0xffff) + p[26:u + 4] + u16.pack(u16.unpack_from(p, u + 4)[0] + grow) + b'\0\0' + string_at(buf, n.value))
        protected += 1
    out.close()
    if off != end:
        sys.exit('%s: truncated record at byte %d' % (src, off))
    json.dump({'protected': protected, 'copied': copied, 'flows': len(flows), 'sessions': len(by_src)}, sys.stdout)


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit('usage: srtp-protect.py IN.pcap OUT.pcap KEYS.json')
    main(sys.argv[1], sys.argv[2], sys.argv[3])
