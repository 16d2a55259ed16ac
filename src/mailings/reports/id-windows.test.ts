import { describe, expect, it } from 'vitest';
import { firstRows, type IdWindowScan, scanIdWindows } from './id-windows.ts';

/** A table of ids with a filter, queried the way the SQL does, counting rows each query reads. */
function table(ids: number[], matches: (id: number) => boolean) {
  const log = { queries: 0, widest: 0 };
  const fetch = (order: 'asc' | 'desc') => async (lo: number, hi: number, limit: number) => {
    log.queries++;
    log.widest = Math.max(log.widest, hi - lo + 1);
    const inRange = ids.filter((id) => id >= lo && id <= hi && matches(id)).map((id) => ({ id }));
    if (order === 'desc') inRange.reverse();
    return inRange.slice(0, limit);
  };
  return { log, fetch };
}

async function all<T extends { id: number }>(scan: IdWindowScan<T>) {
  const out: number[] = [];
  for await (const batch of scanIdWindows(scan)) {
    expect(batch.length).toBeLessThanOrEqual(scan.batch);
    out.push(...batch.map((r) => r.id));
  }
  return out;
}

describe('id windows', () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => i * 3 + 7);
  const bounds = { min: 7, max: ids.at(-1)! };

  it('visits every matching id once, in order, both ways', async () => {
    const even = (id: number) => id % 2 === 0;
    const want = ids.filter(even);
    for (const batch of [1, 7, 100, 5000]) {
      expect(await all({ bounds, order: 'asc', batch, fetch: table(ids, even).fetch('asc') })).toEqual(want);
      expect(await all({ bounds, order: 'desc', batch, fetch: table(ids, even).fetch('desc') })).toEqual(
        [...want].reverse(),
      );
    }
  });

  it('resumes after a cursor and pages with firstRows', async () => {
    const t = table(ids, () => true);
    const page = await firstRows(
      { bounds, order: 'desc', after: 100, batch: 11, fetch: t.fetch('desc') },
      10,
    );
    expect(page.rows.map((r) => r.id)).toEqual([97, 94, 91, 88, 85, 82, 79, 76, 73, 70]);
    expect(page.more).toBe(true);
    const last = await firstRows(
      { bounds, order: 'asc', after: bounds.max - 6, batch: 11, fetch: t.fetch('asc') },
      10,
    );
    expect(last).toEqual({ rows: [{ id: bounds.max - 3 }, { id: bounds.max }], more: false });
    expect(await firstRows({ bounds: null, order: 'asc', batch: 5, fetch: t.fetch('asc') }, 5)).toEqual({
      rows: [],
      more: false,
    });
  });

  it('widens over sparse ranges but never beyond its cap', async () => {
    const rare = (id: number) => id % 997 === 0;
    const t = table(ids, rare);
    expect(await all({ bounds, order: 'asc', batch: 10, fetch: t.fetch('asc') })).toEqual(ids.filter(rare));
    expect(t.log.widest).toBeLessThanOrEqual(640);
    expect(t.log.queries).toBeLessThan(100);
  });
});
