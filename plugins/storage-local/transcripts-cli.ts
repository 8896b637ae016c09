/**
 * `tapline chats list|show`: chat transcripts in the storage-local catalogue, read-only (works while a recorder
 * runs), searchable by time and participant like `recordings list`. The catalogue (a native SQLite binding) is
 * loaded only when these run.
 */
import * as fs from 'node:fs';
import { CONFIG_OPTION, DIR_OPTION, listOptions, type CatalogueListOptions } from './catalogue-options';
import type { CatalogueEntry, ChatTranscript, CommandSpec, TranscriptEntry } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { printable, storagePathsFor } from './recordings-cli';
import type { Catalogue } from './catalogue';
import type { getTranscript as GetTranscript } from './transcripts';

type TranscriptsModule = typeof import('./transcripts');

function openCatalogue(file: string): Catalogue {
  return (require('./catalogue') as typeof import('./catalogue')).Catalogue.open(file, { readonly: true });
}

export type ChatsListOptions = CatalogueListOptions;

export interface ChatsShowOptions {
  json?: boolean;
  config?: string;
  dir?: string;
}


/** `chats list` and `chats show`, contributed to the CLI by storage-local's manifest. */
export const chatsCommands: readonly CommandSpec[] = [
  {
    name: 'chats list',
    description: 'List chat transcripts in the storage-local catalogue (read-only), newest first. Dates without a zone are local time.',
    options: listOptions('transcripts', 'chats whose first message was'),
    run: (_args, o) => chatsListCommand(o as ChatsListOptions),
  },
  {
    name: 'chats show',
    description: 'Print one transcript: participants, messages in order, and the recordings of calls in the same conversation.',
    arguments: [{ name: 'id', description: 'transcript id (as printed by `chats list`)' }],
    options: [{ flags: '--json', description: 'print { entry, transcript, linkedRecordings } as JSON' }, DIR_OPTION, CONFIG_OPTION],
    run: (args, o) => chatsShowCommand(String(args[0]), o as ChatsShowOptions),
  },
];

function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return printable(iso);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function clip(s: string, max: number): string {
  const cps = [...s];
  return cps.length <= max ? s : cps.slice(0, max - 1).join('') + '…';
}

function renderTable(entries: TranscriptEntry[]): string {
  if (entries.length === 0) return 'no chats match\n';
  const rows = entries.map((e) => [localTime(e.start), String(e.messages), e.kind, clip(e.participants.map(printable).join(', '), 72), e.id]);
  const head = ['START', 'MESSAGES', 'KIND', 'PARTICIPANTS', 'ID'];
  const widths = head.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : i === 1 ? c.padStart(widths[i] ?? 0) : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - [...c].length)))).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + `\n${entries.length} chat${entries.length === 1 ? '' : 's'}\n`;
}

export async function chatsListCommand(opts: ChatsListOptions): Promise<void> {
  const cat = openCatalogue((await storagePathsFor(opts)).catalogue);
  try {
    const { listTranscripts } = require('./transcripts') as TranscriptsModule;
    const entries = listTranscripts(cat, {
      ...(opts.from !== undefined ? { from: opts.from } : {}),
      ...(opts.to !== undefined ? { to: opts.to } : {}),
      ...(opts.user !== undefined ? { user: opts.user } : {}),
      limit: opts.limit ?? 100,
    });
    process.stdout.write(opts.json === true ? JSON.stringify(entries, null, 2) + '\n' : renderTable(entries));
  } finally {
    cat.close();
  }
}

function renderShow(entry: TranscriptEntry, t: ChatTranscript, linked: CatalogueEntry[]): string {
  const who = (uri: string, name?: string): string => (name !== undefined ? `${printable(name)} <${printable(uri)}>` : printable(uri));
  const out: string[] = [
    `Chat         ${entry.id} (${t.kind === 'im' ? 'one-to-one' : 'multiparty'})`,
    `Start        ${localTime(t.start)} (${t.start})`,
    `End          ${localTime(t.end)} (${t.endReason})`,
    `Kept for     ${t.keptFor.reason === 'licence' ? `${printable(t.keptFor.user)} (chat licence)` : 'recordAll'}`,
    `Call-ID      ${t.callIds.map(printable).join(', ')}`,
  ];
  if (t.conversationId !== undefined) out.push(`Conversation ${printable(t.conversationId)}`);
  for (const p of t.participants) out.push(`Participant  ${who(p.uri, p.name)} ${p.role}${p.licensed ? ', licensed' : ''}`);
  for (const r of linked) out.push(`Call         ${r.id} ${localTime(r.start)} ${printable(r.from)} → ${printable(r.to)}${r.audio !== undefined ? ` ${r.audio}` : ''}`);
  out.push(`Transcript   ${entry.transcript}${fs.existsSync(entry.transcript) ? '' : ' [file missing]'}`);
  if (entry.html !== undefined) out.push(`HTML         ${entry.html}`);
  for (const w of t.warnings) out.push(`Note         ${printable(w)}`);
  out.push('');
  for (const m of t.messages) {
    const [first = '', ...rest] = m.text.split(/\r\n|\r|\n/);
    out.push(`[${localTime(m.at)}] ${who(m.author.uri, m.author.name)}: ${printable(first)}`, ...rest.map((l) => `    ${printable(l)}`));
  }
  return out.join('\n') + '\n';
}

export async function chatsShowCommand(id: string, opts: ChatsShowOptions): Promise<void> {
  const paths = await storagePathsFor(opts);
  const cat = openCatalogue(paths.catalogue);
  let found: ReturnType<typeof GetTranscript>;
  try {
    found = (require('./transcripts') as TranscriptsModule).getTranscript(cat, id);
  } catch (e) {
    if (e instanceof TaplineError) throw e;
    throw new TaplineError(ErrorCodes.USAGE, `chat ${printable(id)} is catalogued but unreadable: ${(e as Error).message}`, { id }, e);
  } finally {
    cat.close();
  }
  if (found === undefined) throw new TaplineError(ErrorCodes.USAGE, `no chat with id "${printable(id)}" in the catalogue ${paths.catalogue}`, { id, catalogue: paths.catalogue });
  if (opts.json === true) process.stdout.write(JSON.stringify(found, null, 2) + '\n');
  else process.stdout.write(renderShow(found.entry, found.transcript, found.linkedRecordings));
}
