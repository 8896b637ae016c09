/** Recognises a capture file from its first bytes and builds the matching record parser. */
import { ErrorCodes, TaplineError } from '../errors';
import { isPcapMagic, parsePcapHeader, PCAP_FILE_HEADER_LEN, PcapParser } from './pcap-format';
import { BlockType, PcapngParser } from './pcapng-format';
import type { RecordParser, SkipCallback } from './record-parser';

/** Bytes needed to recognise any supported format (the classic pcap file header is the longest). */
export const DETECT_LEN = PCAP_FILE_HEADER_LEN;

/** Formats we recognise only to say clearly that they are not read. */
const FOREIGN: ReadonlyArray<{ prefix: Buffer; message: string }> = [
  { prefix: Buffer.from('GMBU'), message: 'Microsoft Network Monitor 2.x format is not supported; convert with editcap/tshark (editcap -F pcapng FILE OUT)' },
  { prefix: Buffer.from('RTSS'), message: 'Microsoft Network Monitor 1.x format is not supported; convert with editcap/tshark (editcap -F pcapng FILE OUT)' },
  { prefix: Buffer.from([0x1f, 0x8b]), message: 'gzip-compressed; decompress it first (gunzip) or convert with editcap' },
  { prefix: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), message: 'zstd-compressed; decompress it first (zstd -d)' },
  { prefix: Buffer.from([0x04, 0x22, 0x4d, 0x18]), message: 'lz4-compressed; decompress it first (lz4 -d)' },
  { prefix: Buffer.from('snoop\0\0\0'), message: 'Solaris snoop format is not supported; convert with editcap/tshark (editcap -F pcap FILE OUT)' },
];

export interface OpenedCapture {
  parser: RecordParser;
  /** Bytes of file header consumed before the first record (pcapng has none: its SHB is a block). */
  headerLen: number;
}

/**
 * Build the parser for a capture whose first bytes are head[0, len). `len` is DETECT_LEN or less only
 * when the file is that short. Throws TaplineError(CAPTURE_FORMAT | CAPTURE_TRUNCATED) naming `file`.
 */
export function openCapture(head: Buffer, len: number, file: string, onSkip?: SkipCallback): OpenedCapture {
  if (len === 0) {
    throw new TaplineError(ErrorCodes.CAPTURE_FORMAT, `${file} is empty (0 bytes): not a capture file`, { file });
  }
  for (const f of FOREIGN) {
    if (len >= f.prefix.length && head.subarray(0, f.prefix.length).equals(f.prefix)) {
      throw new TaplineError(ErrorCodes.CAPTURE_FORMAT, `${file}: ${f.message}`, { file, magic: hexMagic(head, len) });
    }
  }
  if (len >= 4 && head.readUInt32BE(0) === BlockType.SHB) {
    return { parser: new PcapngParser(onSkip), headerLen: 0 };
  }
  if (len >= 4 && isPcapMagic(head.readUInt32BE(0))) {
    if (len < PCAP_FILE_HEADER_LEN) {
      throw new TaplineError(
        ErrorCodes.CAPTURE_TRUNCATED,
        `${file}: truncated inside the pcap file header (${len} of ${PCAP_FILE_HEADER_LEN} bytes)`,
        { file, bytes: len },
      );
    }
    return { parser: new PcapParser(parsePcapHeader(head)), headerLen: PCAP_FILE_HEADER_LEN };
  }
  throw new TaplineError(
    ErrorCodes.CAPTURE_FORMAT,
    `${file}: not a pcap or pcapng capture (unknown magic ${hexMagic(head, len)})`,
    { file, magic: hexMagic(head, len) },
  );
}

function hexMagic(head: Buffer, len: number): string {
  return '0x' + head.subarray(0, Math.min(4, len)).toString('hex');
}
