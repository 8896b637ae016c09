/**
 * The mirroring recording mode: audio is captured where it passes the Mediation Server (media bypass disabled),
 * so external, conference and queue calls can be heard and internal ones cannot. An internal call with a recorded
 * user is still catalogued, without audio, with the reason as a flag; association is the core's (SDP addresses).
 */
import type { Counters, RecordableVerdict, RecordingMode } from '../../core/contract';
import type { Call } from '../../core/dialog/types';
import type { RecordingMetadata } from '../../core/media/metadata';
import type { ScopeClassifier } from './call-scope';

export const INTERNAL_REASON = 'mirroring mode records external, conference and queue calls only (internal audio does not pass the Mediation Server)';

export class MirroringMode implements RecordingMode {
  readonly name = 'mirroring';
  /** Calls already counted as internal (recordable() is asked at start and may be asked again at answer). */
  private readonly counted = new WeakSet<Call>();

  constructor(
    private readonly scope: ScopeClassifier,
    private readonly counters: Counters,
  ) {}

  recordable(call: Call): RecordableVerdict {
    const v = this.scope.classify(call);
    if (v.scope !== 'internal') return { recordable: true };
    if (!this.counted.has(call)) {
      this.counted.add(call);
      this.counters.inc('internalCalls');
    }
    return { recordable: false, reason: `internal call between ${call.caller.uri} and ${call.callee.uri}: ${INTERNAL_REASON}` };
  }

  annotate(call: Call, meta: RecordingMetadata): void {
    const v = this.scope.classify(call);
    meta.mode = {
      name: this.name,
      scope: v.scope,
      recordable: v.scope !== 'internal',
      parties: { caller: v.caller, callee: v.callee },
    };
  }
}
