import { afterEach, describe, expect, it } from 'vitest';
import { SharedRateLimiter } from '../../src/integrations/hub/limiter.ts';
import { backends } from '../support/db.ts';
import { type HubHarness, startHub } from './hub-support.ts';

/**
 * A CRM's rate limit is per CRM account, however many worker processes deliver to it: the limiters of
 * two processes (two instances here, each with its own state) share one budget through the database.
 */
describe.each(backends)('the shared CRM rate budget on $name', (backend) => {
  let h: HubHarness | null = null;
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  const integrationId = async (hub: HubHarness) =>
    (await hub.t.ctx.db.selectFrom('integrations').select('id').executeTakeFirstOrThrow()).id;

  it('two limiters on one integration together keep the rate, and one honours the other’s pause', async () => {
    h = await startHub(backend);
    const id = await integrationId(h);
    const rate = { requestsPerSecond: 20, burst: 1 };
    const a = new SharedRateLimiter(h.t.ctx.db, id, rate);
    const b = new SharedRateLimiter(h.t.ctx.db, id, rate);
    const start = performance.now();
    const times: number[] = [];
    const take = async (limiter: SharedRateLimiter) => {
      await limiter.take();
      times.push(performance.now() - start);
    };
    await Promise.all(Array.from({ length: 30 }, (_, i) => take(i % 2 === 0 ? a : b)));
    times.sort((x, y) => x - y);
    // 30 requests at 20/s with no burst need 29 intervals of 50 ms; each limiter alone would allow twice.
    expect(times.at(-1)!).toBeGreaterThanOrEqual(29 * 50 - 60);
    // No second holds more than the budget (+1 for the window's edge).
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(21);

    // A Retry-After seen by one process holds the other back.
    await a.pause(700);
    const before = performance.now();
    await b.take();
    expect(performance.now() - before).toBeGreaterThanOrEqual(600);
  });
});
