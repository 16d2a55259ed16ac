/**
 * Keyset paging over an id-ordered table in id windows. A plain `where id > $after order by id limit n`
 * is only fast when the planner walks an index in id order; without statistics (PGlite never analyzes
 * on its own, PostgreSQL not until autovacuum catches up) it may instead collect every matching row and
 * sort it — per page. Bounding each query to an id window (`id between lo and hi`) keeps the work of
 * one query proportional to the window whatever the plan. Windows widen while they come back sparse (a
 * selective filter, another tenant's ids) and narrow again when they fill up.
 */

export interface IdBounds {
  min: number;
  max: number;
}

export interface IdWindowScan<T extends { id: number }> {
  /** The smallest and largest id that can match; null when nothing can. */
  bounds: IdBounds | null;
  order: 'asc' | 'desc';
  /** Resume strictly after this id, in the scan's direction. */
  after?: number;
  /** Rows per query. */
  batch: number;
  /** Rows with lo <= id <= hi that match, in the scan's order, at most `limit`. */
  fetch(lo: number, hi: number, limit: number): Promise<T[]>;
}

const MAX_WIDEN = 64;

export async function* scanIdWindows<T extends { id: number }>(scan: IdWindowScan<T>): AsyncGenerator<T[]> {
  const { bounds, order, batch } = scan;
  if (!bounds) return;
  const ascending = order === 'asc';
  let width = batch;
  let pos = ascending
    ? Math.max(bounds.min, scan.after === undefined ? bounds.min : scan.after + 1)
    : Math.min(bounds.max, scan.after === undefined ? bounds.max : scan.after - 1);
  while (ascending ? pos <= bounds.max : pos >= bounds.min) {
    const lo = ascending ? pos : Math.max(bounds.min, pos - width + 1);
    const hi = ascending ? Math.min(bounds.max, pos + width - 1) : pos;
    const rows = await scan.fetch(lo, hi, batch);
    if (rows.length > 0) yield rows;
    if (rows.length >= batch) {
      // The window had more: continue right after the last row, with a narrower window.
      const last = rows.at(-1)!.id;
      pos = ascending ? last + 1 : last - 1;
      width = Math.max(batch, Math.floor(width / 2));
    } else {
      pos = ascending ? hi + 1 : lo - 1;
      if (rows.length < batch / 2) width = Math.min(batch * MAX_WIDEN, width * 2);
    }
  }
}

/** The first `limit` rows of a scan, and whether there are more. */
export async function firstRows<T extends { id: number }>(
  scan: IdWindowScan<T>,
  limit: number,
): Promise<{ rows: T[]; more: boolean }> {
  const rows: T[] = [];
  for await (const batch of scanIdWindows(scan)) {
    rows.push(...batch);
    if (rows.length > limit) return { rows: rows.slice(0, limit), more: true };
  }
  return { rows, more: false };
}
