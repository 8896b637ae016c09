/**
 * `tapline verify` over shared storage: every object the PostgreSQL catalogue lists is fetched from the bucket,
 * hashed and compared with the SHA-256 catalogued when it was published (and with the hash it carries). A missing
 * object, a different size or hash is a problem; nothing is changed.
 */
import { createHash } from 'node:crypto';
import type { PgCatalogue } from './pg-catalogue';
import type { S3Media } from './s3-media';

export interface SharedVerifyReport {
  recordings: number;
  files: number;
  bytes: number;
  problems: string[];
}

export async function verifyShared(cat: PgCatalogue, s3: S3Media, range: { from?: string; to?: string }): Promise<SharedVerifyReport> {
  const report: SharedVerifyReport = { recordings: 0, files: 0, bytes: 0, problems: [] };
  const PAGE = 500;
  let before: { start: Date; id: string } | undefined;
  for (;;) {
    let q = cat.db.selectFrom('recordings').select(['id', 'start']).orderBy('start', 'desc').orderBy('id', 'desc').limit(PAGE);
    if (range.from !== undefined) q = q.where('start', '>=', new Date(range.from));
    if (range.to !== undefined) q = q.where('start', '<', new Date(range.to));
    if (before !== undefined) {
      const b = before;
      q = q.where((eb) => eb.or([eb('start', '<', b.start), eb.and([eb('start', '=', b.start), eb('id', '<', b.id)])]));
    }
    const rows = await q.execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      report.recordings++;
      const objects = await cat.db.selectFrom('objects').select(['name', 'key', 'bytes', 'sha256']).where('recording_id', '=', r.id).execute();
      for (const o of objects) {
        report.files++;
        let body: Buffer;
        try {
          body = await s3.getBuffer(o.key);
        } catch (e) {
          report.problems.push(`recording ${r.id}: ${o.name} (s3://${s3.o.bucket}/${o.key}) cannot be read: ${(e as Error).message}`);
          continue;
        }
        report.bytes += body.length;
        const hash = createHash('sha256').update(body).digest('hex');
        if (body.length !== Number(o.bytes)) report.problems.push(`recording ${r.id}: ${o.name} is ${body.length} bytes, catalogued as ${String(o.bytes)}`);
        else if (hash !== o.sha256) report.problems.push(`recording ${r.id}: ${o.name} has SHA-256 ${hash}, catalogued as ${o.sha256}`);
      }
    }
    const last = rows[rows.length - 1]!;
    before = { start: last.start, id: last.id };
    if (rows.length < PAGE) break;
  }
  return report;
}
