/**
 * The native addon (native/opus_native.c, built by node-gyp at install into build/Release/opus_native.node) on the
 * system libopus: its TypeScript face and its loader. When it cannot be loaded (not built: no libopus-dev or no
 * C compiler at install; TAPLINE_OPUS_NATIVE=0; a libopus that fails the self-test) the loader says why and the
 * codec flags Opus streams "not decoded" instead of decoding them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** One libopus decoder (opus_decoder_create): PCM out is interleaved 16-bit at the rate it was made for. */
export interface NativeOpusDecoder {
  /** Decodes one packet (1+ bytes) into `out`; returns samples per channel. Throws Error (code 'OPUS_…') on a bad packet. */
  decode(packet: Uint8Array, out: Int16Array): number;
  /**
   * The audio of the packet lost right before `nextPacket`, from nextPacket's in-band FEC (LBRR) data: frameSize
   * samples per channel (a multiple of 2.5 ms, the lost packet's duration). libopus conceals the part FEC cannot
   * cover (all of it when nextPacket carries no FEC, e.g. CELT-only). Returns frameSize.
   */
  decodeFec(nextPacket: Uint8Array, frameSize: number, out: Int16Array): number;
  /** Packet loss concealment for frameSize samples per channel (a multiple of 2.5 ms). Returns frameSize. */
  conceal(frameSize: number, out: Int16Array): number;
  /** OPUS_RESET_STATE: a fresh decoder (a new stream). */
  reset(): void;
  /** Frees the libopus state; idempotent. Every other method throws afterwards. */
  close(): void;
  readonly closed: boolean;
}

/** One libopus encoder (tests and benches, and storage's Ogg Opus archives through storage-encoder.ts). */
export interface NativeOpusEncoder {
  /** Encodes frameSize samples per channel (2.5, 5, 10, 20, 40 or 60 ms) into a new Buffer. */
  encode(pcm: Int16Array, frameSize: number): Buffer;
  setBitrate(bitsPerSecond: number): void;
  setInbandFec(on: boolean): void;
  setPacketLossPerc(percent: number): void;
  setDtx(on: boolean): void;
  setComplexity(complexity: number): void;
  close(): void;
  readonly closed: boolean;
}

/** What a packet's TOC byte and frame layout say (RFC 6716 §3.1-3.2). */
export interface OpusPacketInfo {
  /** Frames in the packet (1-48). */
  frames: number;
  /** Samples per frame at 48 kHz (120 … 2880). */
  samplesPerFrame: number;
  /** Coded channels (the TOC's stereo flag). */
  channels: 1 | 2;
  /** Audio bandwidth in Hz: 4000 (NB), 6000 (MB), 8000 (WB), 12000 (SWB), 20000 (FB). */
  bandwidth: number;
  mode: 'silk' | 'hybrid' | 'celt';
  /** The first frame carries in-band FEC (LBRR) data for the packet before this one. */
  fec: boolean;
}

export const OPUS_APPLICATION_VOIP = 2048;
export const OPUS_APPLICATION_AUDIO = 2049;
export const OPUS_APPLICATION_RESTRICTED_LOWDELAY = 2051;

/** The addon module. */
export interface OpusNative {
  readonly version: string;
  Decoder: new (sampleRate: number, channels: number) => NativeOpusDecoder;
  Encoder: new (sampleRate: number, channels: number, application: number) => NativeOpusEncoder;
  /** opus_packet_get_nb_samples: samples per channel the packet decodes to at sampleRate; throws on a malformed TOC. */
  packetSamples(packet: Uint8Array, sampleRate: number): number;
  /** Parses the packet (opus_packet_parse); throws on a malformed one. */
  packetInfo(packet: Uint8Array): OpusPacketInfo;
}

export type OpusNativeLoad = { native: OpusNative; path: string; reason?: undefined } | { native?: undefined; path?: string; reason: string };

/** Where node-gyp puts the addon: build/Release under the package root (the parent of dist/ and of src/). */
export const ADDON_FILE = join(__dirname, '..', 'build', 'Release', 'opus_native.node');

/** The environment variable that, set to 0, keeps the addon unloaded (Opus then flagged, not decoded). */
export const DISABLE_ENV = 'TAPLINE_OPUS_NATIVE';

/**
 * A 20 ms tone through a fresh encoder and decoder of the addon: 960 samples must come back, with energy. An addon
 * built against another libopus than the one loaded, or a broken one, fails here rather than on every packet.
 */
export function nativeSelfTest(n: OpusNative): string | undefined {
  const enc = new n.Encoder(48000, 1, OPUS_APPLICATION_VOIP);
  const dec = new n.Decoder(48000, 1);
  try {
    const pcm = new Int16Array(960);
    const out = new Int16Array(5760);
    let got = 0;
    let energy = 0;
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (k * 960 + i)) / 48000));
      const pkt = enc.encode(pcm, 960);
      if (n.packetSamples(pkt, 48000) !== 960) return `packetSamples() of a 20 ms packet is not 960`;
      got = dec.decode(pkt, out);
      for (let i = 0; i < got; i++) energy += Math.abs(out[i] as number);
    }
    if (got !== 960) return `a 20 ms packet decoded to ${got} samples`;
    if (energy === 0) return 'a tone decoded to silence';
    return undefined;
  } finally {
    enc.close();
    dec.close();
  }
}

let cached: OpusNativeLoad | undefined;

/**
 * Loads the addon (once; the result is remembered), unless TAPLINE_OPUS_NATIVE=0, which is checked on every call
 * so a process (a test) can turn it off and on. `file` overrides where the addon is looked for.
 */
export function loadOpusNative(env: NodeJS.ProcessEnv = process.env, file: string = ADDON_FILE): OpusNativeLoad {
  if (env[DISABLE_ENV] === '0') return { reason: `disabled by ${DISABLE_ENV}=0` };
  if (file === ADDON_FILE && cached !== undefined) return cached;
  const result = loadFrom(file);
  if (file === ADDON_FILE) cached = result;
  return result;
}

function loadFrom(file: string): OpusNativeLoad {
  if (!existsSync(file)) {
    return { reason: `${file} was not built (installing @tapline/codec-opus builds it with node-gyp; it needs libopus-dev and a C compiler)` };
  }
  try {
    const mod = require(file) as OpusNative;
    const wrong = nativeSelfTest(mod);
    if (wrong !== undefined) return { path: file, reason: `${file} failed its self-test: ${wrong}` };
    return { native: mod, path: file };
  } catch (e) {
    // e.g. "libopus.so.0: cannot open shared object file" when libopus0 was removed after the build.
    return { path: file, reason: `cannot load ${file}: ${(e as Error).message}` };
  }
}
