/** DI tokens. Symbols, never strings, and every resolution names its token explicitly (works under tsx too). */
import type { InjectionToken } from 'tsyringe';
import type { Codec, Logger, Source } from './contract';

export const Tokens = {
  Logger: Symbol('tapline.Logger') as InjectionToken<Logger>,
  /** Multi-bound: every source plugin registers its Source here. */
  Source: Symbol('tapline.Source') as InjectionToken<Source>,
  /** Multi-bound: every codec plugin registers its Codec here. */
  Codec: Symbol('tapline.Codec') as InjectionToken<Codec>,
} as const;
