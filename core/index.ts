/** Tapline's public API: the plugin contract, DI tokens, named errors, and the kernel for embedding. */
import 'reflect-metadata';

// Everything a plugin sees (also importable alone, light, as `tapline/plugin`).
export * from './plugin-api';
export { Kernel } from './kernel';
export { RecorderService, type SourceReport, type Readiness, type StopResult } from './service/recorder-service';
export { loadConfigFile } from './config/load';
export { prepareConfig, type PreparedConfig } from './plugins/loader';
export { CodecRegistry } from './codec-registry';
export { PacketBus, type BusEvents } from './bus';
export { DialogTracker, type DialogEvents } from './dialog/tracker';
export type { Call, SipMeta, Party, SdpRecord, Disposition, EndReason } from './dialog/types';
export type { RawFrame, TransportPacket, TcpStreamChunk } from './net/types';
export type { SipMessage, SipRequest, SipResponse, SipUri, NameAddr } from './sip/types';
export type { SdpSession, SdpMedia } from './sdp/types';
export { suppressCodecs, suppressCodecsInSip, type SuppressOptions, type SuppressResult, type SipSuppressResult } from './sdp/suppress';
