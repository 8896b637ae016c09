/** G.711 codec service: PCMU and PCMA decoders for the codec registry. */
import type { Codec, Decoder, StreamInfo } from '../../core/plugin-api';
import { ALAW_TABLE, G711_SAMPLE_RATE, PCMA_PAYLOAD_TYPE, PCMU_PAYLOAD_TYPE, ULAW_TABLE } from '../../core/plugin-api';

class G711Decoder implements Decoder {
  readonly sampleRate = G711_SAMPLE_RATE;
  /** Reused while packets keep their size (the contract allows it): no allocation per packet. */
  private out = new Int16Array(160);
  constructor(private readonly table: Int16Array) {}

  decode(payload: Buffer): Int16Array | null {
    if (payload.length === 0) return null;
    if (this.out.length !== payload.length) this.out = new Int16Array(payload.length);
    const out = this.out;
    const t = this.table;
    for (let i = 0; i < payload.length; i++) out[i] = t[payload[i] as number] as number;
    return out;
  }

  close(): void {
    // Stateless: nothing to release.
  }
}

export const g711Codec: Codec = {
  encodings: ['PCMU/8000', 'PCMA/8000'],
  staticPayloadTypes: { [PCMU_PAYLOAD_TYPE]: 'PCMU/8000', [PCMA_PAYLOAD_TYPE]: 'PCMA/8000' },
  createDecoder(stream: StreamInfo): Decoder {
    const enc = stream.encoding.toUpperCase();
    if (enc === 'PCMU') return new G711Decoder(ULAW_TABLE);
    if (enc === 'PCMA') return new G711Decoder(ALAW_TABLE);
    throw new Error(`codec-g711 decodes PCMU and PCMA only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
  },
};
