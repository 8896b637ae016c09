/** DI tokens: registered symbols (Symbol.for), so a plugin with its own copy of tapline still matches; never strings, and every resolution names its token explicitly (works under tsx too). */
import type { InjectionToken } from 'tsyringe';
import type { LibraryProvider } from './contracts/library';
import type { CallControl } from './contracts/control';
import type { AudioEncoderProvider, Codec, Counters, Logger, RecordingSink, Source, TranscriptStore, MediaInput, RecordingMode, Metrics, LifecycleBus, Clock } from './contract';
import type { UserDirectory } from './policy/users';
import type { EndpointDirectory } from './policy/endpoints';
import type { CodecRegistry } from './codec-registry';
import type { DialogTracker } from './dialog/tracker';
import type { PacketBus } from './bus';
import type { TaplineConfig } from './config/types';

export const Tokens = {
  Logger: Symbol.for('tapline.Logger') as InjectionToken<Logger>,
  Counters: Symbol.for('tapline.Counters') as InjectionToken<Counters>,
  /** The effective (validated, frozen) configuration. */
  Config: Symbol.for('tapline.Config') as InjectionToken<TaplineConfig>,
  /** Frames, packets, SIP messages and media as they flow through the core. */
  Bus: Symbol.for('tapline.Bus') as InjectionToken<PacketBus>,
  Dialogs: Symbol.for('tapline.Dialogs') as InjectionToken<DialogTracker>,
  Codecs: Symbol.for('tapline.CodecRegistry') as InjectionToken<CodecRegistry>,
  /** Multi-bound: every source plugin registers its Source here. */
  Source: Symbol.for('tapline.Source') as InjectionToken<Source>,
  /** The storage plugin's recording sink (one): audio, attachments and metadata pass through it. */
  Storage: Symbol.for('tapline.Storage') as InjectionToken<RecordingSink>,
  Metrics: Symbol.for('tapline.Metrics') as InjectionToken<Metrics>,
  /** Lifecycle events of calls, recordings and chats. */
  Events: Symbol.for('tapline.Events') as InjectionToken<LifecycleBus>,
  Clock: Symbol.for('tapline.Clock') as InjectionToken<Clock>,
  /** Multi-bound: every codec plugin registers its Codec here. */
  Codec: Symbol.for('tapline.Codec') as InjectionToken<Codec>,
  /** Multi-bound: encoders codec plugins offer storage (Ogg Opus archives). */
  AudioEncoder: Symbol.for('tapline.AudioEncoder') as InjectionToken<AudioEncoderProvider>,
  /** The recording mode plugin's RecordingMode (at most one). */
  Mode: Symbol.for('tapline.Mode') as InjectionToken<RecordingMode>,
  /** Where a mode hands unwrapped media for association (the core's associator). */
  MediaInput: Symbol.for('tapline.MediaInput') as InjectionToken<MediaInput>,
  /** The recorded users and their licences (config `users` / `usersFile`). */
  Users: Symbol.for('tapline.Users') as InjectionToken<UserDirectory>,
  /** The users' endpoint IPs: configured, or learned from their SDPs and Contacts (endpointIp 0.0.0.0). */
  Endpoints: Symbol.for('tapline.Endpoints') as InjectionToken<EndpointDirectory>,
  /** Where chat transcripts go: registered by a storage plugin that keeps them, resolvable from every plugin once all are registered. */
  Transcripts: Symbol.for('tapline.Transcripts') as InjectionToken<TranscriptStore>,
  /** The storage plugin's recording library (read-only catalogue access for the web app), once contributed. */
  Library: Symbol.for('tapline.Library') as InjectionToken<LibraryProvider>,
  /** Start, stop, pause and resume recordings of calls in progress (registered by a running recorder). */
  CallControl: Symbol.for('tapline.CallControl') as InjectionToken<CallControl>,
} as const;
