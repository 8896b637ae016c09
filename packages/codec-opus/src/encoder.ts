/** An Opus encoder for tests and benches (storage uses storage-encoder.ts): 48 kHz mono by default, 20 ms frames. */
import { OPUS_APPLICATION_VOIP, type NativeOpusEncoder, type OpusNative } from './native';

export interface OpusEncoderOptions {
  sampleRate?: number;
  channels?: 1 | 2;
  /** OPUS_APPLICATION_VOIP (default), _AUDIO or _RESTRICTED_LOWDELAY. */
  application?: number;
  /** Bits per second (default: libopus's choice). */
  bitrate?: number;
  /** In-band FEC (OPUS_SET_INBAND_FEC). */
  fec?: boolean;
  /** Expected loss the encoder plans FEC for (OPUS_SET_PACKET_LOSS_PERC); FEC needs it above 0. */
  packetLossPerc?: number;
  /** Discontinuous transmission (OPUS_SET_DTX). */
  dtx?: boolean;
  complexity?: number;
}

export function createOpusEncoder(native: OpusNative, o: OpusEncoderOptions = {}): NativeOpusEncoder {
  const enc = new native.Encoder(o.sampleRate ?? 48000, o.channels ?? 1, o.application ?? OPUS_APPLICATION_VOIP);
  try {
    if (o.bitrate !== undefined) enc.setBitrate(o.bitrate);
    if (o.fec !== undefined) enc.setInbandFec(o.fec);
    if (o.packetLossPerc !== undefined) enc.setPacketLossPerc(o.packetLossPerc);
    if (o.dtx !== undefined) enc.setDtx(o.dtx);
    if (o.complexity !== undefined) enc.setComplexity(o.complexity);
  } catch (e) {
    enc.close();
    throw e;
  }
  return enc;
}
