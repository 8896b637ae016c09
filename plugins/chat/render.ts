/**
 * Readable renderings of a transcript: a self-contained HTML page and plain text. Message text is shown as plain
 * text (escaped): the sender's HTML is kept in transcript.json, never rendered, so a page opened in a browser
 * runs nothing a chat participant wrote.
 */
import type { ChatTranscript, TranscriptEvent, TranscriptMessage } from '../../core/contract';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function who(t: ChatTranscript, uri: string | undefined): string {
  if (uri === undefined) return '';
  const p = t.participants.find((x) => x.uri === uri);
  return p?.name !== undefined ? `${p.name} <${uri}>` : uri;
}

function authorOf(t: ChatTranscript, m: TranscriptMessage): string {
  return m.author.name !== undefined ? `${m.author.name} <${m.author.uri}>` : who(t, m.author.uri);
}

function eventText(t: ChatTranscript, e: TranscriptEvent): string {
  const w = who(t, e.who);
  switch (e.kind) {
    case 'joined':
      return `${w} joined`;
    case 'left':
      return `${w} left`;
    case 'typing':
      return `${w} is typing`;
    case 'idle':
      return `${w} stopped typing`;
    case 'delivery':
      return `delivery notice${w ? ` from ${w}` : ''}: ${e.detail ?? ''}`;
  }
}

/** Messages and events merged by time (messages first at equal times). */
function timeline(t: ChatTranscript, withTyping: boolean): Array<{ at: string; m?: TranscriptMessage; e?: TranscriptEvent }> {
  const items = [
    ...t.messages.map((m) => ({ at: m.at, m, order: 0 })),
    ...t.events.filter((e) => withTyping || (e.kind !== 'typing' && e.kind !== 'idle')).map((e) => ({ at: e.at, e, order: 1 })),
  ];
  return items.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.order - b.order));
}

function header(t: ChatTranscript): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['Session', `${t.kind === 'im' ? 'one-to-one' : 'multiparty'} chat, ${t.messages.length} message${t.messages.length === 1 ? '' : 's'}`],
    ['From', t.start],
    ['To', `${t.end} (${t.endReason})`],
    ['Participants', t.participants.map((p) => `${p.name !== undefined ? `${p.name} <${p.uri}>` : p.uri}${p.licensed ? ' [licensed]' : ''}`).join(', ')],
    ['Kept for', t.keptFor.reason === 'licence' ? `${t.keptFor.user} (chat licence)` : 'recordAll (every session is kept)'],
    ['Call-ID', t.callIds.join(', ')],
  ];
  if (t.conversationId !== undefined) rows.push(['Conversation', t.conversationId]);
  if (t.conference !== undefined) rows.push(['Conference', t.conference]);
  if (t.linkedCalls.length > 0) rows.push(['Calls', t.linkedCalls.map((c) => `${c.callId} (${c.start})`).join(', ')]);
  for (const w of t.warnings) rows.push(['Note', w]);
  return rows;
}

export function renderText(t: ChatTranscript): string {
  const lines = header(t).map(([k, v]) => `${k}: ${v}`);
  lines.push('');
  for (const item of timeline(t, false)) {
    const time = item.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    if (item.m !== undefined) {
      const [first = '', ...rest] = item.m.text.split(/\r\n|\r|\n/);
      lines.push(`[${time}] ${authorOf(t, item.m)}: ${first}`, ...rest.map((l) => `    ${l}`));
      for (const w of item.m.warnings ?? []) lines.push(`    (note: ${w})`);
    } else if (item.e !== undefined) lines.push(`[${time}] * ${eventText(t, item.e)}`);
  }
  return lines.join('\n') + '\n';
}

export function renderHtml(t: ChatTranscript): string {
  const rows = header(t)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('\n');
  const body = timeline(t, false)
    .map((item) => {
      const time = `<time datetime="${esc(item.at)}">${esc(item.at.slice(11, 19))}</time>`;
      if (item.m !== undefined) {
        const notes = (item.m.warnings ?? []).map((w) => `<div class="note">${esc(w)}</div>`).join('');
        return `<div class="msg">${time} <span class="author">${esc(authorOf(t, item.m))}</span><div class="text">${esc(item.m.text)}</div>${notes}</div>`;
      }
      return `<div class="event">${time} ${esc(eventText(t, item.e!))}</div>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Chat ${esc(t.start)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:sans-serif;max-width:60em;margin:1em auto}th{text-align:left;padding-right:1em;vertical-align:top}
.msg{margin:.6em 0}.author{font-weight:bold}.text{white-space:pre-wrap;margin-left:1em}.event{color:#666;font-style:italic}
.note{color:#a40;font-size:small;margin-left:1em}time{color:#666;font-size:small}</style></head>
<body><h1>Chat transcript</h1>
<table>${rows}</table>
<hr>
${body}
</body></html>
`;
}
