/**
 * Retention, legal hold and the audit log on shared storage: the same rules as the local catalogue's
 * (retention.ts: by participant and flag, the longest matching rule wins, a hold exempts), applied to the
 * PostgreSQL catalogue and the bucket. A deletion removes the objects first, then the row with its audit entry in
 * one transaction: a failure between the two leaves a row whose objects are gone (which `verify` reports and the
 * next run deletes), never audio without its record. Run by `tapline retention` (a daily timer), not by each
 * recorder: several recorders would race for the same rows.
 */
import { sql } from 'kysely';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { foldText } from './catalogue';
import type { PgCatalogue } from './pg-catalogue';
import { longestRule, ruleText, type RetentionCandidate, type RetentionResult, type RetentionRule } from './retention';
import type { S3Media } from './s3-media';

const PAGE = 500;

export async function applySharedRetention(
  cat: PgCatalogue,
  s3: S3Media,
  rules: readonly RetentionRule[],
  opts: { now: Date; dryRun: boolean; actor: string },
): Promise<RetentionResult> {
  const result: RetentionResult = { dryRun: opts.dryRun, expired: [], held: [] };
  if (rules.length === 0) return result;
  const minDays = Math.min(...rules.map((r) => r.days));
  const latest = new Date(opts.now.getTime() - minDays * 86_400_000);
  let after: { start: Date; id: string } | undefined;
  for (;;) {
    let q = cat.db.selectFrom('recordings').select(['id', 'call_id', 'start', 'from_uri', 'to_uri', sql<unknown>`metadata->'flags'`.as('flags'), sql<unknown>`metadata->'deployments'`.as('deployments')]).where('start', '<', latest).orderBy('start').orderBy('id').limit(PAGE);
    if (after !== undefined) {
      const a = after;
      q = q.where((eb) => eb.or([eb('start', '>', a.start), eb.and([eb('start', '=', a.start), eb('id', '>', a.id)])]));
    }
    const rows = await q.execute();
    if (rows.length === 0) break;
    after = { start: rows[rows.length - 1]!.start, id: rows[rows.length - 1]!.id };
    const ids = rows.map((r) => r.id);
    const parts = await cat.db.selectFrom('participants').select(['recording_id', 'uri']).where('recording_id', 'in', ids).execute();
    const holds = new Map((await cat.db.selectFrom('holds').select(['recording_id', 'reason']).where('recording_id', 'in', ids).execute()).map((h) => [h.recording_id, h.reason]));
    for (const row of rows) {
      const users = new Set(parts.filter((p) => p.recording_id === row.id).map((p) => foldText(p.uri)));
      const flags = Array.isArray(row.flags) ? (row.flags as unknown[]).filter((f): f is string => typeof f === 'string').map(foldText) : [];
      const deployments = Array.isArray(row.deployments) ? (row.deployments as unknown[]).filter((d): d is number => typeof d === 'number') : [];
      const b = longestRule(rules, users, flags, deployments);
      if (b === undefined || row.start.getTime() + b.days * 86_400_000 > opts.now.getTime()) continue;
      const c: RetentionCandidate = { id: row.id, callId: row.call_id, start: row.start.toISOString(), from: row.from_uri, to: row.to_uri, rule: b.rule, days: b.days };
      const hold = holds.get(row.id);
      if (hold !== undefined) {
        result.held.push({ ...c, reason: hold });
        continue;
      }
      result.expired.push(c);
      if (!opts.dryRun) await deleteShared(cat, s3, c, rules[c.rule] as RetentionRule, opts.actor, opts.now);
    }
  }
  return result;
}

async function deleteShared(cat: PgCatalogue, s3: S3Media, c: RetentionCandidate, rule: RetentionRule, actor: string, now: Date): Promise<void> {
  const keys = (await cat.db.selectFrom('recordings').select('metadata_key').where('id', '=', c.id).execute()).map((r) => r.metadata_key);
  keys.push(...(await cat.db.selectFrom('objects').select('key').where('recording_id', '=', c.id).execute()).map((o) => o.key));
  await s3.deleteKeys(keys);
  const why = `retention rule ${c.rule + 1} (${ruleText(rule)}): started ${c.start}`;
  await cat.db.transaction().execute(async (tx) => {
    await tx.deleteFrom('recordings').where('id', '=', c.id).execute();
    await tx.insertInto('audit').values({ at: now, actor, action: 'delete', recording_id: c.id, detail: `${why}; Call-ID ${c.callId}, ${c.from} → ${c.to}; ${keys.length} objects and the catalogue row deleted` }).execute();
  });
}

/** A legal hold set or released on a shared recording; audited. */
export async function setSharedHold(cat: PgCatalogue, id: string, hold: boolean, opts: { reason?: string; actor: string; now?: Date }): Promise<void> {
  const at = opts.now ?? new Date();
  if ((await cat.db.selectFrom('recordings').select('id').where('id', '=', id).executeTakeFirst()) === undefined) throw new TaplineError(ErrorCodes.USAGE, `no recording with id "${id}" in the shared catalogue`, { id });
  await cat.db.transaction().execute(async (tx) => {
    if (hold) {
      const reason = opts.reason ?? 'legal hold';
      await tx.insertInto('holds').values({ recording_id: id, reason, since: at, by: opts.actor }).onConflict((oc) => oc.column('recording_id').doUpdateSet({ reason, since: at, by: opts.actor })).execute();
      await tx.insertInto('audit').values({ at, actor: opts.actor, action: 'hold', recording_id: id, detail: reason }).execute();
    } else {
      const r = await tx.deleteFrom('holds').where('recording_id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw new TaplineError(ErrorCodes.USAGE, `recording ${id} is not on hold`, { id });
      await tx.insertInto('audit').values({ at, actor: opts.actor, action: 'release', recording_id: id, detail: opts.reason ?? 'hold released' }).execute();
    }
  });
}

export async function sharedAudit(cat: PgCatalogue, q: { from?: string; to?: string; limit: number }): Promise<Array<{ at: string; actor: string; action: string; recordingId: string; detail: string }>> {
  let query = cat.db.selectFrom('audit').selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(q.limit);
  if (q.from !== undefined) query = query.where('at', '>=', new Date(q.from));
  if (q.to !== undefined) query = query.where('at', '<', new Date(q.to));
  return (await query.execute()).map((a) => ({ at: a.at.toISOString(), actor: a.actor, action: a.action, recordingId: a.recording_id, detail: a.detail }));
}
