/**
 * What a plugin needs from Tapline, and nothing else (`tapline/plugin`): the plugin contract, DI tokens, named
 * errors, and module loading as Tapline does it. Light on purpose: a codec plugin is loaded again in every call
 * worker thread, and importing the whole kernel (`tapline`) there would cost each thread ~28 MB and ~0.2 s.
 */
export * from './contract';
export { Tokens } from './tokens';
export { ErrorCodes, TaplineError, isTaplineError, type ErrorCode } from './errors';
export { loadModuleFile, resolveModuleFrom } from './plugins/resolve';
/** G.711 companding (small, table-driven): the G.711 codec decodes with it, storage keeps G.711 as received with it. */
export { ALAW_TABLE, ULAW_TABLE, G711_SAMPLE_RATE, PCMA_PAYLOAD_TYPE, PCMU_PAYLOAD_TYPE, decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw, encodeG711Exact } from './media/g711';
