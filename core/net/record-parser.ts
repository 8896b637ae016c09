/** The piece shared by the pcap and pcapng parsers: parse whole records out of a byte window. */
import type { RawFrame } from './types';

export type CaptureFormat = 'pcap' | 'pcapng';

/** libpcap's MAXIMUM_SNAPLEN: no real capture record is longer, so a bigger length means corruption. */
export const MAX_CAPLEN = 262144;

export type FrameCallback = (frame: RawFrame) => void;
export type SkipCallback = (reason: string, detail: string) => void;

/**
 * Parses records from a window of bytes that may end mid-record. The driver (capture-reader.ts) owns
 * I/O; a parser keeps only the state that spans records (byte order, interfaces, counters).
 */
export interface RecordParser {
  readonly format: CaptureFormat;
  /** Frames delivered so far (frame numbers may run ahead in pcapng: see PcapngParser.frameNo). */
  readonly frames: number;
  /** Records (pcap) or blocks (pcapng) fully consumed so far, header included for pcapng's SHB. */
  readonly records: number;
  /** Set when the input is corrupt; the driver stops and reports it as the warning. */
  readonly corrupt: string | undefined;
  /**
   * Parse every complete record in buf[pos, end) and return the position after the last one.
   * `fileOffset` is the file offset of buf[0] (for messages). Emitted frames' data are views of buf.
   */
  parse(buf: Buffer, pos: number, end: number, fileOffset: number, onFrame: FrameCallback): number;
}
