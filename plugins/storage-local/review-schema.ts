/**
 * Catalogue schema version 7: what the review app filters on beside participants and time. `codecs` and `flags`
 * are ',A,B,' lists ('' when empty) (a LIKE '%,A,%' test matches one exactly); rows catalogued before version 7 have them NULL
 * until their metadata is written again.
 */
export const REVIEW_MIGRATION = `
  ALTER TABLE recordings ADD COLUMN direction TEXT;
  ALTER TABLE recordings ADD COLUMN codecs TEXT;
  ALTER TABLE recordings ADD COLUMN flags TEXT;
  CREATE INDEX recordings_duration ON recordings(duration_sec);
`;

/** ',A,B,' (an empty list: '', so a refresh can empty it; NULL means not known). */
export function listColumn(values: readonly string[]): string {
  return values.length === 0 ? '' : `,${values.join(',')},`;
}

export function fromListColumn(v: string | null | undefined): string[] {
  return v === null || v === undefined ? [] : v.split(',').filter((s) => s !== '');
}
