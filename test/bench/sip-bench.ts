/**
 * SIP parser throughput on a realistic Lync/SfB INVITE (multipart/alternative ICEv6 + ICEv19 SDP, compact headers,
 * three Vias, two Record-Routes), with tshark on the same message as the reference measured in the same run.
 * Run alone: npx tsx test/bench/sip-bench.ts
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findSdpBody, parseSipMessage } from '../../core/sip/index';
import { PcapWriter } from '../../core/net/pcap-writer';
import { udpFrames } from '../../plugins/source-generator/net-frames';

import type { BenchResult } from './types';

export type { BenchResult };

const BOUNDARY = '----=_NextPart_000_0A1B_01D9C3B4.5E6F7A80';

function crlf(lines: string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

/** ICEv6 (draft-6) SDP, the ms-proxy-2007fallback part. */
const SDP_V6 = crlf([
  'v=0', 'o=- 0 0 IN IP4 10.20.30.41', 's=session', 'c=IN IP4 10.20.30.41', 't=0 0', 'm=audio 50012 RTP/SAVP 104 9',
  'a=candidate:oKpwKDjMnfFmC2s0dB3kQ 1 XJoleCXuzzNJhA5oRzS9ZQ UDP 0.830 10.20.30.41 50012',
  'a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:3t+Jui/n92LdQz7Ng0hZCkw1RYyxLQpHkzGFiw5p|2^31|1:1',
  'a=rtpmap:104 SILK/16000', 'a=rtpmap:9 G722/8000',
]);

/** ICEv19 (RFC 5245) SDP: the last SDP part, the one a recorder must use. */
const SDP_V19 = crlf([
  'v=0', 'o=- 0 1 IN IP4 10.20.30.41', 's=session', 'c=IN IP4 10.20.30.41', 't=0 0', 'm=audio 50020 RTP/SAVP 104 9',
  'a=ice-ufrag:lMRF', 'a=ice-pwd:oeNM9Rf6IT4BtUaOKa60ivx2', 'a=candidate:1 1 UDP 2130706431 10.20.30.41 50020 typ host',
  'a=candidate:3 1 UDP 184548351 198.51.100.67 42037 typ relay raddr 10.20.30.41 rport 50020',
  'a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:3t+Jui/n92LdQz7Ng0hZCkw1RYyxLQpHkzGFiw5p|2^31|1:1',
  'a=rtpmap:104 SILK/16000', 'a=rtpmap:9 G722/8000',
]);

/** A Lync-style INVITE as it reaches a Front End: built from code so the bench needs no corpus. */
export function lyncInvite(): Buffer {
  const body =
    `--${BOUNDARY}\r\nContent-Type: application/sdp\r\nContent-Disposition: session; handling=optional; ms-proxy-2007fallback\r\n\r\n${SDP_V6}` +
    `--${BOUNDARY}\r\nContent-Type: application/sdp\r\nContent-Disposition: session; handling=optional\r\n\r\n${SDP_V19}` +
    `--${BOUNDARY}--\r\n`;
  const head = crlf([
    'INVITE sip:bob@contoso.com;opaque=user:epid:Hx3kT9aV2VGa1bZx0KpLAA;gruu SIP/2.0',
    'Via: SIP/2.0/TLS 10.1.1.10:5061;branch=z9hG4bK8A1F2C3D.9E8B7A6C;branched=FALSE',
    'v: SIP/2.0/TLS 10.1.1.20:49152;branch=z9hG4bK5D4E3F20',
    'Via: SIP/2.0/TLS 10.20.30.41:51234;received=203.0.113.7;ms-received-port=51234;ms-received-cid=4F00',
    'Max-Forwards: 68',
    'Record-Route: <sip:fe01.contoso.com:5061;transport=tls;opaque=state:T:F:Ci.R2c00;lr>;tag=3C2B1A',
    'Record-Route: <sip:edge01.contoso.com:5061;transport=tls;lr>',
    'f: "Alice Example"<sip:alice@contoso.com>;tag=8f7e6d5c4b;epid=3a2b1c0d9e',
    't: <sip:bob@contoso.com>',
    'i: 1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a',
    'CSeq: 1 INVITE',
    'm: <sip:alice@contoso.com;opaque=user:epid:Qw3kT9aV2VGa1bZx0KpLBB;gruu>',
    'k: ms-dialog-route-set-update, timer, histinfo, 100rel',
    'Allow: INVITE, BYE, ACK, CANCEL, INFO, UPDATE, REFER',
    `c: multipart/alternative;boundary="${BOUNDARY}"`,
    `l: ${Buffer.byteLength(body)}`,
  ]);
  return Buffer.from(`${head}\r\n${body}`, 'utf8');
}

/** Messages per second of `fn` over ~`ms` milliseconds, after a warm-up. */
function rate(fn: () => number, ms: number): number {
  let sink = 0;
  for (let i = 0; i < 20000; i++) sink += fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < 2000; i++) sink += fn();
    n += 2000;
    elapsed = process.hrtime.bigint() - t0;
  }
  if (sink === -1) console.log(sink); // keeps the work observable to the optimiser
  return n / (Number(elapsed) / 1e9);
}

/** Classic pcap (Ethernet/IPv4/UDP 5060) with `count` copies of `payload`, via the project's own writer. */
export async function writeSipPcap(file: string, payload: Buffer, count: number): Promise<void> {
  const w = new PcapWriter(file);
  for (let i = 0; i < count; i++) {
    for (const frame of udpFrames('10.20.30.41', 5060, '10.1.1.10', 5060, payload, i & 0xffff, 65535)) w.write(1_700_000_000_000_000 + i * 1000, frame);
    if (w.needsDrain) await w.drain();
  }
  await w.close();
}

async function tsharkRate(payload: Buffer, count: number): Promise<{ value?: number; note: string }> {
  const tshark = ['/usr/bin/tshark', 'tshark'].find((p) => spawnSync(p, ['--version'], { stdio: 'ignore' }).status === 0);
  if (tshark === undefined) return { note: 'tshark not found: no reference' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-sip-bench-'));
  try {
    const file = path.join(dir, 'invites.pcap');
    await writeSipPcap(file, payload, count);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(tshark, ['-n', '-r', file, '-Y', 'sip', '-T', 'fields', '-e', 'sip.Call-ID'], { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) return { note: `tshark failed (${r.status}): ${String(r.stderr).slice(0, 200)}` };
    const lines = r.stdout.split('\n').filter((l) => l !== '').length;
    return { value: count / secs, note: `tshark -n -r FILE -Y sip -T fields -e sip.Call-ID: ${lines}/${count} Call-IDs in ${secs.toFixed(2)} s (includes its start-up)` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchSip(): Promise<BenchResult[]> {
  const invite = lyncInvite();
  const check = parseSipMessage(invite);
  const sdp = findSdpBody(check);
  if (check.via.length !== 3 || sdp === undefined || sdp.indexOf('typ relay') < 0) throw new Error('bench INVITE does not parse as expected');
  const parse = rate(() => parseSipMessage(invite).via.length, 1500);
  const parseSdp = rate(() => findSdpBody(parseSipMessage(invite))?.length ?? 0, 1000);
  const ts = await tsharkRate(invite, 20000);
  const reference = ts.value === undefined ? undefined : { name: 'tshark 4 SIP dissection', value: Math.round(ts.value), unit: 'msg/s' };
  const main: BenchResult = {
    name: 'parseSipMessage, Lync INVITE',
    value: Math.round(parse),
    unit: 'msg/s',
    notes: `${invite.length}-byte INVITE, one core. ${ts.note}`,
  };
  if (reference !== undefined) {
    main.reference = reference;
    main.ratio = Math.round((parse / reference.value) * 10) / 10;
  }
  return [main, { name: 'parseSipMessage + findSdpBody (multipart walk)', value: Math.round(parseSdp), unit: 'msg/s' }];
}

if (require.main === module) {
  benchSip().then(
    (results) => {
      for (const r of results) {
        const ref = r.reference === undefined ? '' : `  (reference ${r.reference.name}: ${r.reference.value} ${r.reference.unit}, ratio ${r.ratio ?? '?'}x)`;
        console.log(`${r.name}: ${r.value} ${r.unit}${ref}${r.notes === undefined ? '' : `\n  ${r.notes}`}`);
      }
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
