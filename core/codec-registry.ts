/** Codecs keyed by encoding ('PCMU/8000'), filled from codec plugins; the core never switches on codec names. */
import type { Codec, Decoder, StreamInfo } from './contract';
import { ErrorCodes, TaplineError } from './errors';

export function encodingKey(name: string, clockRate: number): string {
  return `${name.toUpperCase()}/${clockRate}`;
}

interface Entry {
  codec: Codec;
  plugin: string;
}

export class CodecRegistry {
  private readonly byEncoding = new Map<string, Entry>();
  private readonly byStaticPt = new Map<number, string>();

  /** Throws CODEC_CONFLICT when another plugin already claims one of the codec's encodings. */
  add(codec: Codec, plugin: string): void {
    for (const enc of codec.encodings) {
      const [name, rate] = enc.split('/');
      const key = encodingKey(name ?? enc, Number(rate));
      const prior = this.byEncoding.get(key);
      if (prior !== undefined && prior.codec !== codec) {
        throw new TaplineError(ErrorCodes.CODEC_CONFLICT, `codec plugins "${prior.plugin}" and "${plugin}" both claim ${key}; enable only one`, {
          encoding: key,
          plugins: [prior.plugin, plugin],
        });
      }
      this.byEncoding.set(key, { codec, plugin });
    }
    for (const [pt, enc] of Object.entries(codec.staticPayloadTypes ?? {})) this.byStaticPt.set(Number(pt), enc);
  }

  has(name: string, clockRate: number): boolean {
    return this.byEncoding.has(encodingKey(name, clockRate));
  }

  /** The plugin name that decodes this encoding, if any. */
  pluginFor(name: string, clockRate: number): string | undefined {
    return this.byEncoding.get(encodingKey(name, clockRate))?.plugin;
  }

  /** Static payload type fallback (RFC 3551) when an SDP carried no rtpmap for it. */
  staticEncoding(pt: number): string | undefined {
    return this.byStaticPt.get(pt);
  }

  /** A fresh decoder for one stream, or undefined when no plugin decodes this encoding. */
  createDecoder(stream: StreamInfo): Decoder | undefined {
    return this.byEncoding.get(encodingKey(stream.encoding, stream.clockRate))?.codec.createDecoder(stream);
  }

  encodings(): Array<{ encoding: string; plugin: string }> {
    return [...this.byEncoding.entries()].map(([encoding, e]) => ({ encoding, plugin: e.plugin })).sort((a, b) => a.encoding.localeCompare(b.encoding));
  }
}

/** Checks declared encodings across manifests before any register() runs. */
export function checkCodecClaims(manifests: ReadonlyArray<{ name: string; kind: string; encodings?: readonly string[] }>): void {
  const owner = new Map<string, string>();
  for (const m of manifests) {
    if (m.kind !== 'codec') continue;
    for (const enc of m.encodings ?? []) {
      const [name, rate] = enc.split('/');
      const key = encodingKey(name ?? enc, Number(rate));
      const prior = owner.get(key);
      if (prior !== undefined && prior !== m.name) {
        throw new TaplineError(ErrorCodes.CODEC_CONFLICT, `codec plugins "${prior}" and "${m.name}" both claim ${key}; enable only one`, {
          encoding: key,
          plugins: [prior, m.name],
        });
      }
      owner.set(key, m.name);
    }
  }
}
