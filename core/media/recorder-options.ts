/** The call recorder's options from the config: the same in the main thread and in every call worker. */
import type { TaplineConfig } from '../config/types';
import type { CallRecorderOptions } from './call-recorder';

export function recorderOptions(cfg: TaplineConfig): CallRecorderOptions {
  return {
    layout: cfg.output.layout,
    endLingerSec: cfg.media.endLingerSec,
    maxSilenceSec: cfg.media.maxSilenceSec,
    reorderWindowMs: cfg.media.reorderWindowMs,
    metadataEverySec: cfg.media.metadataEverySec,
    srtp: structuredClone(cfg.media.srtp),
    keepUndecoded: cfg.media.keepUndecoded,
    recorderId: cfg.policy.recorderId,
  };
}
