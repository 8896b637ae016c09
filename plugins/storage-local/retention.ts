/**
 * Retention: rules say how long recordings are kept (by participant, flag and forwarder deployment); a recording no rule matches is
 * kept for ever. Where several rules match, the longest wins: deleting too early is the mistake that cannot be
 * undone. A legal hold exempts a recording from every rule until released. Each deletion takes the audio and the
 * metadata together (the folder and the row), is recorded in `removals` (so the integrity manifests stay
 * explained) and in the audit log; a dry run lists the same set and changes nothing.
 */
import * as fs from 'node:fs';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { foldText, type Catalogue } from './catalogue';
import { deleteRecording } from './integrity';

export interface RetentionRule {
  /** Kept this many days after the recording started. */
  days: number;
  /** Only recordings with this participant (URI, case-insensitive). */
  user?: string;
  /** Only recordings with a flag containing this text (case-insensitive), e.g. "not decrypted". */
  flag?: string;
  /** Only recordings whose media or signalling a forwarder of this deployment (tenant) sent (TFWD deployment id). */
  deployment?: number;
}

/** storage-local's `retention` option. */
export interface RetentionOptions {
  rules: RetentionRule[];
  /** Applied once a day by the running store. */
  auto: boolean;
}

export const RETENTION_MIGRATION = `
  CREATE TABLE holds (
    recording_id TEXT PRIMARY KEY REFERENCES recordings(id) ON DELETE RESTRICT,
    reason TEXT NOT NULL,
    since TEXT NOT NULL,
    by TEXT NOT NULL
  );
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,                  -- ISO 8601 UTC
    actor TEXT NOT NULL,               -- 'retention', or who ran the command (user@host)
    action TEXT NOT NULL,              -- 'delete', 'hold', 'release'
    recording_id TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  CREATE INDEX audit_at ON audit(at);`;

export interface RetentionCandidate {
  id: string;
  callId: string;
  start: string;
  from: string;
  to: string;
  /** The rule that keeps it longest, and its index in the rules. */
  rule: number;
  days: number;
}

export interface RetentionResult {
  dryRun: boolean;
  /** Recordings past their time, deleted (or, dry, that would be). */
  expired: RetentionCandidate[];
  /** Past their time but on legal hold: kept. */
  held: Array<RetentionCandidate & { reason: string }>;
}

/**
 * The matching rule that keeps a recording longest (undefined: no rule matches, it is kept for ever). `users` are
 * its participants' URIs and `flags` its flags, both folded (foldText); `deployments` its forwarder deployments.
 */
export function longestRule(rules: readonly RetentionRule[], users: ReadonlySet<string>, flags: readonly string[], deployments: readonly number[] = []): { rule: number; days: number } | undefined {
  let best: { rule: number; days: number } | undefined;
  rules.forEach((r, i) => {
    if (r.user !== undefined && !users.has(foldText(r.user))) return;
    if (r.deployment !== undefined && !deployments.includes(r.deployment)) return;
    if (r.flag !== undefined && !flags.some((f) => f.includes(foldText(r.flag as string)))) return;
    if (best === undefined || r.days > best.days) best = { rule: i, days: r.days };
  });
  return best;
}

export function ruleText(r: RetentionRule): string {
  return [`${r.days} days`, r.user !== undefined ? `user ${r.user}` : '', r.flag !== undefined ? `flag "${r.flag}"` : '', r.deployment !== undefined ? `deployment ${r.deployment}` : ''].filter((x) => x !== '').join(', ');
}

export function audit(cat: Catalogue, actor: string, action: string, recordingId: string, detail: string, at = new Date().toISOString()): void {
  cat.stmt('INSERT INTO audit (at, actor, action, recording_id, detail) VALUES (@at, @actor, @action, @id, @detail)').run({ at, actor, action, id: recordingId, detail });
}

/** Rows read per query: the catalogue can hold millions; the event loop gets a turn between pages. */
const PAGE = 500;

/**
 * The recordings the rules have expired at `now` (finished ones only: a running recording is never touched),
 * deleted unless `dryRun`. Paged, with a turn of the event loop between pages, so a recorder applying it keeps
 * capturing. `collect: false` keeps counts only (the daily pass of a recorder: no list that grows with the set).
 */
export async function applyRetention(
  cat: Catalogue,
  rules: readonly RetentionRule[],
  opts: { now: Date; dryRun: boolean; actor?: string; collect?: boolean; /** The recordings folder: only folders under it are deleted. */ root: string },
): Promise<RetentionResult & { expiredCount: number; heldCount: number }> {
  const result = { dryRun: opts.dryRun, expired: [] as RetentionCandidate[], held: [] as RetentionResult['held'], expiredCount: 0, heldCount: 0 };
  if (rules.length === 0) return result;
  const collect = opts.collect !== false;
  // The newest cut-off any rule gives: nothing started after it can be expired, so the scan stays small.
  const minDays = Math.min(...rules.map((r) => r.days));
  const latest = new Date(opts.now.getTime() - minDays * 86_400_000).toISOString();
  const page = cat.stmt(
    `SELECT id, call_id, start, from_uri, to_uri, metadata FROM recordings WHERE status != 'recording' AND start < @latest AND (start, id) > (@s, @i) ORDER BY start, id LIMIT ${PAGE}`,
  );
  const holdOf = cat.stmt('SELECT reason FROM holds WHERE recording_id = @id');
  const usersOf = cat.stmt('SELECT uri FROM participants WHERE recording_id = @id');
  const needMeta = rules.some((r) => r.flag !== undefined || r.deployment !== undefined);
  const when = opts.now.toISOString();
  let after = { s: '', i: '' };
  for (;;) {
    if (!cat.isOpen) throw new Error('the catalogue was closed');
    const rows = page.all({ latest, ...after }) as Array<{ id: string; call_id: string; start: string; from_uri: string; to_uri: string; metadata: string }>;
    if (rows.length === 0) break;
    after = { s: rows[rows.length - 1]!.start, i: rows[rows.length - 1]!.id };
    for (const row of rows) {
      const users = new Set((usersOf.all({ id: row.id }) as Array<{ uri: string }>).map((u) => foldText(u.uri)));
      let flags: string[] = [];
      let deployments: number[] = [];
      if (needMeta) {
        try {
          const meta = JSON.parse(await fs.promises.readFile(cat.abs(row.metadata), 'utf8')) as { flags?: string[]; deployments?: number[] };
          flags = meta.flags?.map(foldText) ?? [];
          deployments = meta.deployments ?? [];
        } catch {
          flags = [];
        }
      }
      const b = longestRule(rules, users, flags, deployments);
      if (b === undefined) continue;
      if (Date.parse(row.start) + b.days * 86_400_000 > opts.now.getTime()) continue;
      const c: RetentionCandidate = { id: row.id, callId: row.call_id, start: row.start, from: row.from_uri, to: row.to_uri, rule: b.rule, days: b.days };
      const hold = holdOf.get({ id: row.id }) as { reason: string } | undefined;
      if (hold !== undefined) {
        result.heldCount++;
        if (collect) result.held.push({ ...c, reason: hold.reason });
        continue;
      }
      result.expiredCount++;
      if (collect) result.expired.push(c);
      if (!opts.dryRun) await deleteExpired(cat, c, rules[c.rule] as RetentionRule, opts.actor ?? 'retention', when, opts.root);
    }
    await new Promise<void>((r) => setImmediate(r));
  }
  return result;
}

async function deleteExpired(cat: Catalogue, c: RetentionCandidate, rule: RetentionRule, actor: string, when: string, root: string): Promise<void> {
  const rec = cat.record(c.id);
  if (rec === undefined) return;
  const why = `retention rule ${c.rule + 1} (${ruleText(rule)}): started ${c.start}`;
  await deleteRecording(cat, rec, why, when, root, () => audit(cat, actor, 'delete', c.id, `${why}; Call-ID ${c.callId}, ${c.from} → ${c.to}; audio and metadata deleted`, when));
}

/** Puts a recording on legal hold (retention never deletes it) or takes it off; both audited. */
export function setHold(cat: Catalogue, id: string, hold: boolean, opts: { reason?: string; actor: string; now?: Date }): void {
  const at = (opts.now ?? new Date()).toISOString();
  if (cat.get(id) === undefined) throw new TaplineError(ErrorCodes.USAGE, `no recording with id "${id}" in the catalogue ${cat.file}`, { id });
  cat.tx(() => {
    if (hold) {
      const reason = opts.reason ?? 'legal hold';
      cat.stmt('INSERT OR REPLACE INTO holds (recording_id, reason, since, by) VALUES (@id, @reason, @since, @by)').run({ id, reason, since: at, by: opts.actor });
      audit(cat, opts.actor, 'hold', id, reason, at);
    } else {
      const res = cat.stmt('DELETE FROM holds WHERE recording_id = @id').run({ id });
      if (res.changes === 0) throw new TaplineError(ErrorCodes.USAGE, `recording ${id} is not on hold`, { id });
      audit(cat, opts.actor, 'release', id, opts.reason ?? 'hold released', at);
    }
  });
}
