/**
 * Contribution points (Theia's ContributionProvider): what plugins add to the service — sources, codecs, a
 * storage sink, a mode, a transcript store — each a token with a cardinality. The kernel collects every point from
 * every plugin's container the same way; a new kind of contribution is one more entry here, not kernel code.
 */
import type { DependencyContainer, InjectionToken } from 'tsyringe';
import type { LibraryProvider } from './contracts/library';
import type { AudioEncoderProvider, Codec, RecordingMode, RecordingSink, Source, TranscriptStore } from './contract';
import { Tokens } from './tokens';
import { ErrorCodes, TaplineError } from './errors';

export interface ContributionPoint<T> {
  readonly token: InjectionToken<T>;
  /** What a contribution is called in messages ('storage plugin', 'recording mode'). */
  readonly noun: string;
  /** 'many': every plugin may add some; 'one': at most one plugin in a config. */
  readonly cardinality: 'many' | 'one';
  /**
   * Also registered in the root container once contributed, so sibling plugins resolve it from start() on (the
   * chat plugin finds the transcript store a storage plugin registered after it).
   */
  readonly shared?: boolean;
}

function point<T>(p: ContributionPoint<T>): ContributionPoint<T> {
  return p;
}

export const Points = {
  Source: point<Source>({ token: Tokens.Source, noun: 'source', cardinality: 'many' }),
  Codec: point<Codec>({ token: Tokens.Codec, noun: 'codec', cardinality: 'many' }),
  AudioEncoder: point<AudioEncoderProvider>({ token: Tokens.AudioEncoder, noun: 'audio encoder', cardinality: 'many', shared: true }),
  Storage: point<RecordingSink>({ token: Tokens.Storage, noun: 'storage plugin', cardinality: 'one' }),
  Mode: point<RecordingMode>({ token: Tokens.Mode, noun: 'recording mode', cardinality: 'one' }),
  Transcripts: point<TranscriptStore>({ token: Tokens.Transcripts, noun: 'transcript store', cardinality: 'one', shared: true }),
  Library: point<LibraryProvider>({ token: Tokens.Library, noun: 'recording library', cardinality: 'one', shared: true }),
} as const;

const ALL: ReadonlyArray<ContributionPoint<unknown>> = Object.values(Points) as ReadonlyArray<ContributionPoint<unknown>>;

export interface Contribution<T> {
  plugin: string;
  value: T;
}

/** What every plugin contributed, per point, in registration order. */
export class Contributions {
  private readonly byPoint = new Map<ContributionPoint<unknown>, Array<Contribution<unknown>>>();

  constructor(private readonly root: DependencyContainer) {}

  /** Collects every point a plugin's own container registered (not what it inherits). */
  collect(plugin: string, container: DependencyContainer): void {
    for (const p of ALL) {
      if (!container.isRegistered(p.token, false)) continue;
      const list = this.byPoint.get(p) ?? [];
      for (const value of container.resolveAll(p.token)) {
        if (p.cardinality === 'one' && list.length > 0) {
          throw new TaplineError(ErrorCodes.PLUGIN_DUPLICATE, `two plugins contribute a ${p.noun} ("${list[0]!.plugin}" and "${plugin}"); enable one`, { point: p.noun, plugins: [list[0]!.plugin, plugin] });
        }
        list.push({ plugin, value });
        if (p.shared === true) this.root.register(p.token, { useValue: value });
      }
      this.byPoint.set(p, list);
    }
  }

  all<T>(p: ContributionPoint<T>): ReadonlyArray<Contribution<T>> {
    return (this.byPoint.get(p as ContributionPoint<unknown>) ?? []) as ReadonlyArray<Contribution<T>>;
  }

  one<T>(p: ContributionPoint<T>): T | undefined {
    return this.all(p)[0]?.value;
  }
}
