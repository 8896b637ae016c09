/**
 * What a plugin needs from Tapline, and nothing else (`tapline/plugin`): the plugin contract, DI tokens, named
 * errors, and module loading as Tapline does it. Light on purpose: a codec plugin is loaded again in every call
 * worker thread, and importing the whole kernel (`tapline`) there would cost each thread ~28 MB and ~0.2 s.
 */
export * from './contract';
export { Tokens } from './tokens';
export { ErrorCodes, TaplineError, isTaplineError, type ErrorCode } from './errors';
export { loadModuleFile, resolveModuleFrom } from './plugins/resolve';
