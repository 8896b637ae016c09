/**
 * The review app (`tapline web`, a real process) over HTTP:
 * 1. Search latency through GET /api/recordings on a catalogue of 1,000,000 recordings — a user within a time range
 *    (a day, a week or a month), the newest page without filters, and a party-number substring — each beside the
 *    same query run in this process on the same catalogue (searchRecordings, what the API calls): the ratio is the
 *    API's overhead (HTTP, token check, validation, tags, JSON). The catalogue is built once under
 *    out/bench/web-catalogue/ (~2,000 users, a year of calls) and reused while its row count and schema match.
 * 2. Time to the first audio byte of a call recorded here (generate + record, 60 s): the stored WAV, Ogg Opus (made
 *    on the first request, then cached) and a Range request from the middle, beside the same WAV file served by a
 *    plain node:http server (fs.createReadStream) in this process, measured the same way: first request (a new
 *    connection) and warm (median of 20 on a kept-alive connection). Then, on a restarted process, the recording's
 *    page (GET /api/recordings/:id) the first time and warm: it answers whether Ogg Opus exists by making it.
 * Every process started here is stopped, the temp folder removed; the cached catalogue stays.
 * Run alone: node dist/test/bench/run.js web
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { LibraryQuery } from '../../core/contract';
import { Catalogue, SCHEMA_VERSION } from '../../plugins/storage-local/catalogue';
import { searchRecordings } from '../../plugins/storage-local/library-search';
import { listColumn } from '../../plugins/storage-local/review-schema';
import { mulberry32 } from '../prng';
import { repoRoot } from '../corpus';
import { run, startWeb, type WebFixture } from '../web-fixture';
import type { BenchResult } from './types';
import { median, p95 } from './latency';

const ROWS = 1_000_000;
const USERS = 2_000;
/** Outside numbers that call in or are called (customers). */
const CUSTOMERS = 300_000;
const BATCH = 20_000;
/** Bumped when the generated rows (or how they are built) change: a cached catalogue of another generation is built again. */
const GENERATION = 2;
const T0 = Date.UTC(2025, 0, 1);
const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;

const USER_RANGE_QUERIES = 120;
const NEWEST_QUERIES = 60;
const PARTY_QUERIES = 15;
const WARMUP = 3;
const WARM_AUDIO = 20;

const CACHE_DIR = path.join(repoRoot, 'out', 'bench', 'web-catalogue');
const CACHE_FILE = path.join(CACHE_DIR, 'catalogue.sqlite');
const CACHE_INFO = path.join(CACHE_DIR, 'bench.json');

interface CacheInfo {
  generation: number;
  rows: number;
  schema: number;
  builtAt: string;
  buildSec: number;
}

const userUri = (u: number): string => `sip:user${u}@bench.test`;
const customerNumber = (k: number): string => `+1555${String((k * 7919 + 1_234_567) % 10_000_000).padStart(7, '0')}`;
const customerUri = (k: number): string => `sip:${customerNumber(k)}@pstn.bench.test`;

function hex(rnd: () => number, chars: number): string {
  let s = '';
  while (s.length < chars) s += Math.floor(rnd() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return s.slice(0, chars);
}

/** A skewed pick in [0, n): a few busy agents, many quieter ones (the busiest ~20x the median). */
function skewed(rnd: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(n * Math.pow(rnd(), 1.4)));
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)] as T;
}

function readInfo(): CacheInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(CACHE_INFO, 'utf8')) as CacheInfo;
  } catch {
    return undefined;
  }
}

/** The cached catalogue when it is whole and current: its row count and schema version checked in the file itself. */
function cachedCatalogue(): CacheInfo | undefined {
  const info = readInfo();
  if (info === undefined || info.generation !== GENERATION || info.rows !== ROWS || !fs.existsSync(CACHE_FILE)) return undefined;
  try {
    const cat = Catalogue.open(CACHE_FILE, { readonly: true });
    try {
      const version = (cat.stmt('PRAGMA user_version').get({}) as { user_version: number }).user_version;
      const rows = (cat.stmt('SELECT count(*) AS n FROM recordings').get({}) as { n: number }).n;
      return version === SCHEMA_VERSION && rows === ROWS ? info : undefined;
    } finally {
      cat.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * A year of calls: inbound (a customer calls a user), outbound, internal (user to user), some transferred to a
 * third user; durations log-normal around 3 minutes; direction, codecs and flags as review-schema stores them.
 */
function buildCatalogue(): CacheInfo {
  const partial = `${CACHE_DIR}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.rmSync(CACHE_DIR, { recursive: true, force: true });
  const started = performance.now();
  const cat = Catalogue.open(path.join(partial, 'catalogue.sqlite'));
  // A throw-away build (a .partial folder until it is whole): no fsync, a big page cache. The trigram index is
  // filled once at the end, as migration 5 fills it for an existing catalogue (~6x faster than row by row through
  // its trigger; the same index, and the same search speed: its segments are merged either way), then the trigger
  // is put back as it was.
  cat.stmt('PRAGMA synchronous = OFF').run({});
  cat.stmt('PRAGMA cache_size = -524288').run({});
  const trigger = (cat.stmt(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'participants_fts_insert'`).get({}) as { sql: string } | undefined)?.sql;
  if (trigger === undefined) throw new Error('the catalogue has no participants_fts_insert trigger: the bench needs updating for this schema');
  cat.stmt('DROP TRIGGER participants_fts_insert').run({});
  const rnd = mulberry32(20_250_101);
  const insertRec = `INSERT INTO recordings (id, call_id, start, "end", duration_sec, from_uri, from_name, to_uri, to_name, disposition, status, dir, audio, metadata, call_key, direction, codecs, flags)
    VALUES (@id, @call_id, @start, @end, @duration_sec, @from_uri, @from_name, @to_uri, @to_name, @disposition, @status, @dir, @audio, @metadata, @call_key, @direction, @codecs, @flags)`;
  const insertPart = 'INSERT INTO participants (recording_id, uri, name, role) VALUES (@id, @uri, @name, @role)';
  let lastReport = performance.now();
  for (let b = 0; b < ROWS; b += BATCH) {
    cat.tx(() => {
      for (let i = b; i < Math.min(ROWS, b + BATCH); i++) {
        const startMs = T0 + Math.floor(((i + rnd()) * YEAR_MS) / ROWS);
        const kind = rnd();
        const direction = kind < 0.45 ? 'inbound' : kind < 0.75 ? 'outbound' : 'internal';
        const user = skewed(rnd, USERS);
        const customer = skewed(rnd, CUSTOMERS);
        let other = skewed(rnd, USERS);
        if (other === user) other = (user + 1) % USERS;
        const userSide = { uri: userUri(user), name: `User ${user}` };
        const outside = direction === 'internal' ? { uri: userUri(other), name: `User ${other}` } : { uri: customerUri(customer), name: rnd() < 0.2 ? `Customer ${customer}` : null };
        const [from, to] = direction === 'outbound' ? [userSide, outside] : direction === 'inbound' ? [outside, userSide] : [userSide, outside];
        const d = rnd();
        const disposition = d < 0.88 ? 'answered' : d < 0.95 ? 'cancelled' : d < 0.98 ? 'rejected' : 'failed';
        const answered = disposition === 'answered';
        // Log-normal: median 180 s, 1 s to 2 h (Box-Muller).
        const gauss = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
        const durationSec = answered ? Math.round(Math.min(7200, Math.max(1, Math.exp(Math.log(180) + gauss))) * 1000) / 1000 : Math.round(rnd() * 30_000) / 1000;
        const transferred = answered && rnd() < 0.03;
        const codecs = !answered ? [] : direction === 'internal' ? [pick(rnd, ['SILK', 'SILK', 'OPUS', 'G722'])] : [pick(rnd, ['PCMU', 'PCMU', 'PCMU', 'PCMA', 'PCMA', 'G722', 'G729'])];
        const flags = new Set<string>();
        if (!answered) flags.add('no-audio');
        else {
          if (direction === 'internal' && rnd() < 0.6) flags.add('srtp');
          if (direction === 'inbound' && rnd() < 0.15) flags.add('dtmf');
          if (rnd() < 0.05) flags.add('packet-loss');
          if (rnd() < 0.04) flags.add('concealed');
          if (rnd() < 0.005) flags.add('joined-mid-call');
          if (rnd() < 0.003) flags.add('not-decrypted');
          if (transferred) flags.add('transferred');
        }
        const id = `${hex(rnd, 8)}-${hex(rnd, 4)}-4${hex(rnd, 3)}-a${hex(rnd, 3)}-${hex(rnd, 12)}`;
        const callId = `${hex(rnd, 24)}@bench.test`;
        const start = new Date(startMs).toISOString();
        const dir = `${start.slice(0, 4)}/${start.slice(5, 7)}/${start.slice(8, 10)}/${start.slice(11, 19).replace(/:/g, '')}_${callId}_${id}`;
        cat.stmt(insertRec).run({
          id,
          call_id: callId,
          start,
          end: new Date(startMs + Math.round(durationSec * 1000)).toISOString(),
          duration_sec: durationSec,
          from_uri: from.uri,
          from_name: from.name,
          to_uri: to.uri,
          to_name: to.name,
          disposition,
          status: 'complete',
          dir,
          audio: answered ? `${dir}/audio.wav` : null,
          metadata: `${dir}/metadata.json`,
          call_key: hex(rnd, 64),
          direction,
          codecs: listColumn(codecs),
          flags: listColumn([...flags].sort()),
        });
        cat.stmt(insertPart).run({ id, uri: from.uri, name: from.name, role: 'caller' });
        cat.stmt(insertPart).run({ id, uri: to.uri, name: to.name, role: 'callee' });
        if (transferred) {
          const third = (user + 1 + skewed(rnd, USERS - 1)) % USERS;
          cat.stmt(insertPart).run({ id, uri: userUri(third), name: null, role: 'transfer-target' });
        }
      }
    });
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      console.log(`  web: catalogue ${(b + BATCH).toLocaleString('en-US')} / ${ROWS.toLocaleString('en-US')} rows (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
  const ftsStarted = performance.now();
  cat.tx(() => {
    cat.stmt(`INSERT INTO participants_fts (rowid, uri, name) SELECT id, tl_fold(uri), tl_fold(coalesce(name, '')) FROM participants`).run({});
    cat.stmt(trigger).run({});
  });
  console.log(`  web: catalogue rows in ${((ftsStarted - started) / 1000).toFixed(0)} s, participant trigram index in ${((performance.now() - ftsStarted) / 1000).toFixed(0)} s`);
  cat.close();
  const info: CacheInfo = { generation: GENERATION, rows: ROWS, schema: SCHEMA_VERSION, builtAt: new Date().toISOString(), buildSec: Math.round((performance.now() - started) / 100) / 10 };
  fs.writeFileSync(path.join(partial, 'bench.json'), `${JSON.stringify(info, null, 2)}\n`);
  fs.renameSync(partial, CACHE_DIR);
  return info;
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP, timed as a client sees it.

interface Timed {
  status: number;
  /** Request sent → response headers. */
  headersMs: number;
  /** Request sent → first byte of the body. */
  firstByteMs: number;
  /** Request sent → last byte. */
  totalMs: number;
  bytes: number;
  body?: Buffer;
  headers: http.IncomingHttpHeaders;
}

function get(url: string, headers: Record<string, string>, agent: http.Agent | false, keepBody = false): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { headers, agent }, (res) => {
      const headersMs = performance.now() - t0;
      let firstByteMs = -1;
      let bytes = 0;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - t0;
        bytes += c.length;
        if (keepBody) parts.push(c);
      });
      res.on('end', () => {
        const totalMs = performance.now() - t0;
        const out: Timed = { status: res.statusCode ?? 0, headersMs, firstByteMs: firstByteMs < 0 ? totalMs : firstByteMs, totalMs, bytes, headers: res.headers };
        if (keepBody) out.body = Buffer.concat(parts);
        resolve(out);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The reference: the file as a plain node:http server gives it (fs.createReadStream, one byte range like the API). */
function referenceServer(file: string): Promise<{ url: string; close: () => Promise<void> }> {
  const size = fs.statSync(file).size;
  const server = http.createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m === null) {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(size), 'accept-ranges': 'bytes' });
      fs.createReadStream(file).pipe(res);
      return;
    }
    const start = Number(m[1]);
    const end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
    res.writeHead(206, { 'content-type': 'audio/wav', 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
    fs.createReadStream(file, { start, end }).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

function must(r: { code: number; out: string; err: string }, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.err}${r.out}`);
  return r.out;
}

/** A config for `tapline web` in `dir`: storage-local over `recordings`, web on a free loopback port; an admin and its API token. */
function webConfig(dir: string, recordings: string): { config: string; token: string } {
  const config = path.join(dir, 'tapline.config.json');
  const plugins = [
    { use: 'codec-g711' },
    { use: 'codec-telephone-event' },
    { use: 'codec-cn' },
    { use: '@tapline/codec-opus' },
    { use: 'storage-local', options: { dir: recordings } },
    { use: 'web', options: { port: 0 } },
  ];
  fs.writeFileSync(config, JSON.stringify({ plugins }, null, 2));
  must(run(['web', 'account', 'add', 'admin', '--role', 'admin', '--password-env', 'PW', '-c', config], dir, { PW: 'bench admin password' }), 'web account add');
  const token = must(run(['web', 'token', 'create', 'admin', '--name', 'bench', '-c', config], dir), 'web token create').trim();
  return { config, token };
}

function rssMiB(pid: number | undefined): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Math.round(Number(m[1]) / 1024);
  } catch {
    return undefined;
  }
}

const ms = (x: number): number => Math.round(x * 100) / 100;
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

// ---------------------------------------------------------------------------------------------------------------
// 1. Search.

interface SearchCase {
  label: string;
  query: LibraryQuery;
  qs: string;
}

function qs(q: Record<string, string>): string {
  return new URLSearchParams(q).toString();
}

/** Each query run both ways, interleaved (which goes first alternates), after a few unmeasured ones. */
async function measureSearch(
  web: WebFixture,
  token: string,
  cat: Catalogue,
  cases: SearchCase[],
  agent: http.Agent,
  mismatches: string[],
): Promise<{ api: number[]; direct: number[]; rows: number; firstApiMs: number; firstDirectMs: number; byLabel: Map<string, { api: number[]; direct: number[] }> }> {
  const api: number[] = [];
  const direct: number[] = [];
  const byLabel = new Map<string, { api: number[]; direct: number[] }>();
  let rows = 0;
  let firstApiMs = 0;
  let firstDirectMs = 0;
  const headers = { authorization: `Bearer ${token}` };
  for (let i = 0; i < cases.length + WARMUP; i++) {
    const c = cases[i % cases.length] as SearchCase;
    const measured = i >= WARMUP;
    let apiMs = 0;
    let directMs = 0;
    let apiIds: string[] = [];
    let directIds: string[] = [];
    const viaApi = async (): Promise<void> => {
      const r = await get(`${web.url}/api/recordings?${c.qs}`, headers, agent, true);
      apiMs = r.totalMs;
      if (r.status !== 200) throw new Error(`GET /api/recordings?${c.qs}: ${r.status} ${r.body?.toString() ?? ''}`);
      apiIds = (JSON.parse((r.body as Buffer).toString('utf8')) as { items: Array<{ id: string }> }).items.map((x) => x.id);
    };
    const inProcess = (): void => {
      const t = performance.now();
      const page = searchRecordings(cat, c.query);
      directMs = performance.now() - t;
      directIds = page.items.map((x) => x.id);
    };
    if (i % 2 === 0) {
      inProcess();
      await viaApi();
    } else {
      await viaApi();
      inProcess();
    }
    if (i === 0) {
      firstApiMs = apiMs;
      firstDirectMs = directMs;
    }
    if (apiIds.join() !== directIds.join()) mismatches.push(`${c.qs}: API ${apiIds.length} rows, catalogue ${directIds.length}`);
    if (!measured) continue;
    api.push(apiMs);
    direct.push(directMs);
    rows += apiIds.length;
    const l = byLabel.get(c.label) ?? { api: [], direct: [] };
    l.api.push(apiMs);
    l.direct.push(directMs);
    byLabel.set(c.label, l);
  }
  return { api, direct, rows, firstApiMs, firstDirectMs, byLabel };
}

function searchResults(what: string, m: Awaited<ReturnType<typeof measureSearch>>, extra: string): BenchResult[] {
  const n = m.api.length;
  const perLabel = [...m.byLabel].filter(() => m.byLabel.size > 1).map(([l, v]) => `${l}: API median ${median(v.api).toFixed(1)} / p95 ${p95(v.api).toFixed(1)} ms, in-process ${median(v.direct).toFixed(1)} / ${p95(v.direct).toFixed(1)} ms`);
  const common = `${n} queries (${m.rows.toLocaleString('en-US')} rows returned, pages of 50)${extra}; first (unmeasured) query: API ${m.firstApiMs.toFixed(1)} ms, in-process ${m.firstDirectMs.toFixed(1)} ms`;
  return [
    {
      name: `web: ${what} of 1M through the API, p95 latency`,
      value: ms(p95(m.api)),
      unit: 'ms',
      reference: { name: 'the same query in-process (searchRecordings), p95', value: ms(p95(m.direct)), unit: 'ms' },
      ratio: ratio(p95(m.api), p95(m.direct)),
      notes: `${common}${perLabel.length > 0 ? `; ${perLabel.join('; ')}` : ''}`,
    },
    {
      name: `web: ${what} of 1M through the API, median latency`,
      value: ms(median(m.api)),
      unit: 'ms',
      reference: { name: 'the same query in-process (searchRecordings), median', value: ms(median(m.direct)), unit: 'ms' },
      ratio: ratio(median(m.api), median(m.direct)),
      notes: `API overhead at the median ${(median(m.api) - median(m.direct)).toFixed(2)} ms (HTTP on loopback with keep-alive, bearer token, query validation, tags, JSON)`,
    },
  ];
}

async function benchSearch(tmp: string, stops: Array<() => Promise<void>>): Promise<BenchResult[]> {
  const t = performance.now();
  let info = cachedCatalogue();
  const reused = info !== undefined;
  if (info === undefined) {
    console.log(`  web: building a catalogue of ${ROWS.toLocaleString('en-US')} recordings in ${path.relative(repoRoot, CACHE_DIR)} (once; later runs reuse it) ...`);
    info = buildCatalogue();
  }
  const prepSec = (performance.now() - t) / 1000;
  const size = fs.statSync(CACHE_FILE).size;
  console.log(`  web: catalogue ${reused ? `reused (built ${info.builtAt} in ${info.buildSec} s; checked in ${prepSec.toFixed(1)} s)` : `built in ${info.buildSec} s`}, ${(size / 1048576).toFixed(0)} MiB`);

  const dir = path.join(tmp, 'search');
  fs.mkdirSync(dir);
  const { config, token } = webConfig(dir, CACHE_DIR);
  const startedAt = performance.now();
  const web = await startWeb(dir, config);
  stops.push(() => web.stop());
  const startMs = performance.now() - startedAt;
  const cat = Catalogue.open(CACHE_FILE, { readonly: true });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const mismatches: string[] = [];
  try {
    const rnd = mulberry32(7);
    const ranges: Array<[string, number]> = [
      ['a day', 1],
      ['a week', 7],
      ['a month', 30],
    ];
    const userRange: SearchCase[] = [];
    for (let q = 0; q < USER_RANGE_QUERIES; q++) {
      const [label, days] = ranges[q % ranges.length] as [string, number];
      const user = `user${Math.floor(rnd() * USERS)}@bench.test`;
      const fromMs = T0 + Math.floor(rnd() * (365 - days)) * DAY_MS;
      const from = new Date(fromMs).toISOString();
      const to = new Date(fromMs + days * DAY_MS).toISOString();
      userRange.push({ label, query: { user, from, to }, qs: qs({ user, from, to }) });
    }
    const newest: SearchCase[] = Array.from({ length: NEWEST_QUERIES }, () => ({ label: 'newest', query: {}, qs: '' }));
    const party: SearchCase[] = [];
    for (let q = 0; q < PARTY_QUERIES; q++) {
      // Seven digits of a customer's number, as someone types it from a note.
      const number = customerNumber(skewed(rnd, CUSTOMERS)).slice(-7);
      party.push({ label: 'party', query: { party: number }, qs: qs({ party: number }) });
    }
    const ur = await measureSearch(web, token, cat, userRange, agent, mismatches);
    const nw = await measureSearch(web, token, cat, newest, agent, mismatches);
    const pt = await measureSearch(web, token, cat, party, agent, mismatches);
    const rss = rssMiB(web.proc.pid);
    return [
      {
        name: 'web: 1M-recording catalogue ready (built, or the cached one checked), seconds',
        value: Math.round(prepSec * 10) / 10,
        unit: 's',
        notes: `${reused ? `reused ${path.relative(repoRoot, CACHE_FILE)} (built ${info.builtAt} in ${info.buildSec} s)` : `built now in ${info.buildSec} s (${ROWS.toLocaleString('en-US')} rows in transactions of ${BATCH.toLocaleString('en-US')}, the participant trigram index filled at the end), cached in ${path.relative(repoRoot, CACHE_DIR)}`}; ${(size / 1048576).toFixed(0)} MiB; ${USERS} users, ${CUSTOMERS.toLocaleString('en-US')} outside numbers, a year of calls; tapline web up in ${(startMs / 1000).toFixed(1)} s`,
      },
      ...searchResults('user + time range', ur, `: a user (userN@bench.test) within a day, a week or a month`),
      ...searchResults('newest page 1, no filter', nw, ''),
      ...searchResults('party-number substring', pt, ': 7 digits of an outside number (matches a handful of calls)'),
      {
        name: 'web: search answers that differ from the catalogue in-process',
        value: mismatches.length,
        unit: 'queries',
        notes: `${mismatches.length === 0 ? 'every API page lists the same recordings, in the same order, as searchRecordings' : mismatches.slice(0, 3).join('; ')}${rss !== undefined ? `; tapline web RSS after the searches: ${rss} MiB` : ''}`,
      },
    ];
  } finally {
    agent.destroy();
    cat.close();
    await web.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Audio: time to the first byte.

async function benchAudio(tmp: string, stops: Array<() => Promise<void>>): Promise<BenchResult[]> {
  const dir = path.join(tmp, 'audio');
  fs.mkdirSync(dir);
  must(run(['generate', '--out', 'calls.pcap', '--calls', '1', '--duration', '60'], dir), 'generate');
  const { config, token } = webConfig(dir, 'rec');
  must(run(['record', '--pcap', 'calls.pcap', '--no-progress', '-c', config], dir), 'record');
  const cat = Catalogue.open(path.join(dir, 'rec', 'catalogue.sqlite'), { readonly: true });
  const entry = cat.list({ limit: 1 })[0];
  cat.close();
  if (entry?.audio === undefined) throw new Error('the recorded call has no audio');
  const wav = entry.audio;
  const size = fs.statSync(wav).size;
  let web = await startWeb(dir, config);
  stops.push(() => web.stop());
  const ref = await referenceServer(wav);
  stops.push(() => ref.close());
  const headers = { authorization: `Bearer ${token}` };
  const audioUrl = (format: string): string => `${web.url}/api/recordings/${encodeURIComponent(entry.id)}/audio?format=${format}`;
  const mid = Math.floor(size / 2);
  const range = { range: `bytes=${mid}-` };
  const problems: string[] = [];
  const check = (what: string, r: Timed, status: number, bytes: number): Timed => {
    if (r.status !== status || r.bytes !== bytes) problems.push(`${what}: ${r.status}, ${r.bytes} bytes (expected ${status}, ${bytes})`);
    return r;
  };
  try {
    // A search first, as someone finds the call before playing it (the library opens the catalogue at first use).
    const found = await get(`${web.url}/api/recordings?limit=1`, headers, false, true);
    if (found.status !== 200 || !(found.body ?? Buffer.alloc(0)).toString().includes(entry.id)) throw new Error(`GET /api/recordings: ${found.status} ${found.body?.toString() ?? ''}`);
    // First requests, each on a new connection: the API's audio routes have not run yet; Ogg Opus is encoded now.
    const first = {
      wav: check('wav', await get(audioUrl('wav'), headers, false, true), 200, size),
      ogg: await get(audioUrl('ogg'), headers, false),
      range: check('wav range', await get(audioUrl('wav'), { ...headers, ...range }, false), 206, size - mid),
      refWav: check('reference', await get(`${ref.url}/audio.wav`, {}, false, true), 200, size),
      refRange: check('reference range', await get(`${ref.url}/audio.wav`, range, false), 206, size - mid),
    };
    if (first.ogg.status !== 200 || first.ogg.bytes < 1000) problems.push(`ogg: ${first.ogg.status}, ${first.ogg.bytes} bytes`);
    if (first.wav.body !== undefined && !first.wav.body.equals(fs.readFileSync(wav))) problems.push('the WAV served differs from the stored file');
    // Warm: kept-alive connections, API and reference interleaved.
    const apiAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const refAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const warm = { wav: [] as Timed[], ogg: [] as Timed[], range: [] as Timed[], refWav: [] as Timed[], refRange: [] as Timed[] };
    try {
      for (let i = 0; i < WARM_AUDIO + 1; i++) {
        const w = check('wav', await get(audioUrl('wav'), headers, apiAgent), 200, size);
        const o = check('ogg', await get(audioUrl('ogg'), headers, apiAgent), 200, first.ogg.bytes);
        const rg = check('wav range', await get(audioUrl('wav'), { ...headers, ...range }, apiAgent), 206, size - mid);
        const rw = check('reference', await get(`${ref.url}/audio.wav`, {}, refAgent), 200, size);
        const rr = check('reference range', await get(`${ref.url}/audio.wav`, range, refAgent), 206, size - mid);
        if (i === 0) continue; // opens the kept-alive connections
        warm.wav.push(w);
        warm.ogg.push(o);
        warm.range.push(rg);
        warm.refWav.push(rw);
        warm.refRange.push(rr);
      }
    } finally {
      apiAgent.destroy();
      refAgent.destroy();
    }
    // The recording's page (GET /api/recordings/:id) on a fresh process: it says whether Ogg Opus exists, which
    // library.audio(id, 'ogg') answers by making it (the whole recording encoded, as a first ogg request does).
    await web.stop();
    web = await startWeb(dir, config);
    await get(`${web.url}/api/recordings?limit=1`, headers, false);
    const detailUrl = `${web.url}/api/recordings/${encodeURIComponent(entry.id)}`;
    const detailFirst = await get(detailUrl, headers, false, true);
    if (detailFirst.status !== 200) problems.push(`GET /api/recordings/:id: ${detailFirst.status}`);
    const detailWarm: number[] = [];
    const detailAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < WARM_AUDIO + 1; i++) {
        const r = await get(detailUrl, headers, detailAgent);
        if (i > 0) detailWarm.push(r.totalMs);
      }
    } finally {
      detailAgent.destroy();
    }
    const fb = (xs: Timed[]): number => median(xs.map((x) => x.firstByteMs));
    const total = (xs: Timed[]): number => median(xs.map((x) => x.totalMs));
    const secs = entry.durationSec ?? 60;
    const refFirst = { name: 'the WAV file from a plain node:http server (fs.createReadStream), first request', value: ms(first.refWav.firstByteMs), unit: 'ms' };
    const refWarm = { name: 'the WAV file from a plain node:http server, warm median', value: ms(fb(warm.refWav)), unit: 'ms' };
    const refRangeFirst = { name: 'the same Range from the plain node:http server, first request', value: ms(first.refRange.firstByteMs), unit: 'ms' };
    const refRangeWarm = { name: 'the same Range from the plain node:http server, warm median', value: ms(fb(warm.refRange)), unit: 'ms' };
    const res = (name: string, value: number, reference: { name: string; value: number; unit: string }, notes: string): BenchResult => ({ name, value: ms(value), unit: 'ms', reference, ratio: ratio(value, reference.value), notes });
    return [
      res('web: first audio byte, WAV (stored file), first request', first.wav.firstByteMs, refFirst, `${(size / 1e6).toFixed(2)} MB, ${secs.toFixed(0)} s of 8 kHz stereo; new connection; after a search; headers after ${first.wav.headersMs.toFixed(1)} ms, whole file after ${first.wav.totalMs.toFixed(1)} ms (reference ${first.refWav.totalMs.toFixed(1)} ms)`),
      res('web: first audio byte, WAV (stored file), warm median', fb(warm.wav), refWarm, `median of ${WARM_AUDIO} on a kept-alive connection; whole file ${total(warm.wav).toFixed(1)} ms (reference ${total(warm.refWav).toFixed(1)} ms); each full request is a "play" entry in the audit log`),
      res('web: first audio byte, Ogg Opus, first request (encoded now)', first.ogg.firstByteMs, refFirst, `the stored WAV encoded to Ogg Opus on this request (${(first.ogg.bytes / 1e6).toFixed(2)} MB, 48 kbit/s stereo), then cached in memory; whole answer after ${first.ogg.totalMs.toFixed(1)} ms; the reference serves the WAV (no encoding)`),
      res('web: first audio byte, Ogg Opus, warm median (cached)', fb(warm.ogg), refWarm, `median of ${WARM_AUDIO}, from the in-memory cache; whole answer ${total(warm.ogg).toFixed(1)} ms`),
      res('web: first audio byte, WAV Range from the middle, first request', first.range.firstByteMs, refRangeFirst, `Range: bytes=${mid}- (a seek to the middle), 206, ${((size - mid) / 1e6).toFixed(2)} MB; new connection`),
      res('web: first audio byte, WAV Range from the middle, warm median', fb(warm.range), refRangeWarm, `median of ${WARM_AUDIO} on a kept-alive connection; whole range ${total(warm.range).toFixed(1)} ms (reference ${total(warm.refRange).toFixed(1)} ms)`),
      {
        name: "web: a recording's page (GET /api/recordings/:id), first view",
        value: ms(detailFirst.totalMs),
        unit: 'ms',
        reference: { name: 'the same request again, warm median', value: ms(median(detailWarm)), unit: 'ms' },
        ratio: ratio(detailFirst.totalMs, median(detailWarm)),
        notes: `tapline web restarted (empty audio cache), a search, then the recording's page: its "audio.ogg" answer makes the Ogg Opus (encodes the whole ${secs.toFixed(0)} s recording) before replying; warm: median of ${WARM_AUDIO}, from the cache`,
      },
      { name: 'web: audio answers wrong (status, length or bytes)', value: problems.length, unit: 'problems', notes: problems.length === 0 ? 'every answer had the expected status and length; the WAV served equals the stored file' : problems.slice(0, 3).join('; ') },
    ];
  } finally {
    await ref.close();
    await web.stop();
  }
}

export async function benchWeb(): Promise<BenchResult[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-bench-web-'));
  const stops: Array<() => Promise<void>> = [];
  // Stopped by the runner (SIGTERM → exit): the web processes go with the process group; the temp folder here.
  const onExit = (): void => fs.rmSync(tmp, { recursive: true, force: true });
  process.on('exit', onExit);
  try {
    const search = await benchSearch(tmp, stops);
    const audio = await benchAudio(tmp, stops);
    return [...search, ...audio];
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
    process.off('exit', onExit);
  }
}
