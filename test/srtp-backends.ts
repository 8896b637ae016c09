/**
 * The two SRTP paths every SRTP unit test runs on: SrtpContext's TypeScript code, and the native addon
 * (native/srtp) that takes over a known stream's packets when it is built. The addon's absence is not a skip:
 * core/media/srtp/native.test.ts fails then, unless TAPLINE_SRTP_NATIVE=0 says it is meant to be off.
 */
import { srtpNative } from '../core/media/srtp/native';

export interface SrtpBackend {
  name: string;
  /** The SrtpContextOptions.native value that selects it. */
  native: boolean;
}

export const SRTP_BACKENDS: readonly SrtpBackend[] = [
  { name: 'TypeScript', native: false },
  ...(srtpNative !== undefined ? [{ name: 'native addon', native: true }] : []),
];
