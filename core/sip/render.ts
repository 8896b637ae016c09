/** A parsed SIP message as text again (debug logs: policy.recordSipDialogs / logAllSipMessages). */
import type { SipMessage } from './types';

/** Start line, headers in wire order (unfolded), blank line, body (as UTF-8; binary bodies are summarised). */
export function renderSipMessage(msg: SipMessage): string {
  const start = msg.kind === 'request' ? `${msg.method} ${msg.requestUri.raw} ${msg.version}` : `${msg.version} ${msg.status} ${msg.reason}`;
  const lines = [start, ...msg.headers.entries().map(([name, value]) => `${name}: ${value}`)];
  const body = msg.body.length === 0 ? '' : isText(msg.body) ? msg.body.toString('utf8') : `[${msg.body.length} bytes of binary body]`;
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

function isText(b: Buffer): boolean {
  const n = Math.min(b.length, 4096);
  for (let i = 0; i < n; i++) {
    const c = b[i] as number;
    if (c < 9 || (c > 13 && c < 32)) return false;
  }
  return true;
}
