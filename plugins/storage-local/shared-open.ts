/** The shared catalogue and bucket opened for one CLI command, and closed after it. */
import type { SharedConfig } from './index';
import type { PgCatalogue } from './pg-catalogue';
import type { S3Media } from './s3-media';

export async function withSharedStorage<T>(c: SharedConfig, fn: (cat: PgCatalogue, s3: S3Media, bucket: string) => Promise<T>): Promise<T> {
  const { resolveShared } = require('./index') as typeof import('./index');
  const { PgCatalogue: Pg } = require('./pg-catalogue') as typeof import('./pg-catalogue');
  const { S3Media: S3 } = require('./s3-media') as typeof import('./s3-media');
  const o = resolveShared(c);
  // Commands that only read migrate nothing; one that writes (retention, holds) needs the current schema.
  const cat = await Pg.open(o.postgresUrl, undefined, { max: 1 });
  const s3 = new S3(o.s3);
  try {
    return await fn(cat, s3, o.s3.bucket);
  } finally {
    s3.close();
    await cat.close();
  }
}
