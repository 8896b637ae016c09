/** policy.logAllSipMessages: every SIP message seen, appended to one text file (a debug aid, like the net service's). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SipMeta } from '../dialog/types';
import type { SipMessage } from '../sip/types';
import { renderSipMessage } from '../sip/render';

const FLUSH_BYTES = 64 * 1024;

export class SipMessageLog {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a');
  }

  write(msg: SipMessage, meta: SipMeta): void {
    const head = `--- ${new Date(meta.ts / 1000).toISOString()} ${meta.transport} ${meta.src}:${meta.sport} -> ${meta.dst}:${meta.dport}${meta.origin !== undefined ? ` (${meta.origin})` : ''}\n`;
    const text = `${head}${renderSipMessage(msg)}\n`;
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    fs.writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}
