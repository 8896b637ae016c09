/** HTTP Range (RFC 9110 §14): one byte range of a resource of `size` bytes; several ranges are served as the first. */
export type RangeResult = { kind: 'all' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' };

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined || header.trim() === '') return { kind: 'all' };
  const m = /^\s*bytes\s*=\s*([^,]*)/i.exec(header);
  if (m === null) return { kind: 'all' }; // another unit: ignored, as the RFC allows
  const spec = (m[1] as string).trim();
  const r = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (r === null || (r[1] === '' && r[2] === '')) return { kind: 'unsatisfiable' };
  if (size === 0) return { kind: 'unsatisfiable' };
  if (r[1] === '') {
    const n = Number(r[2]);
    if (n === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(r[1]);
  const end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
  if (start >= size || end < start) return { kind: 'unsatisfiable' };
  return { kind: 'part', start, end };
}
