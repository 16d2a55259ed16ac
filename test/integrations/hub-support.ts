import { createSite, siteByPublicKey } from '../../src/chat/sites.ts';
import { identifyVisitor } from '../../src/chat/visitors.ts';
import { HubRunner, type HubRunnerOptions } from '../../src/integrations/hub/runner.ts';
import { RetailCrmFake } from '../fakes/retailcrm.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import type { Backend } from '../support/db.ts';

/** A test app with a tenant, a site and a RetailCRM integration pointed at a local fake. */
export interface HubHarness {
  t: TestApp;
  tenant: Tenant;
  siteId: number;
  siteKey: string;
  fake: RetailCrmFake;
  runners: HubRunner[];
  startRunner(options?: Partial<HubRunnerOptions>): Promise<HubRunner>;
  visitor(label: string): Promise<Awaited<ReturnType<typeof identifyVisitor>>['visitor']>;
  close(): Promise<void>;
}

export async function startHub(backend: Backend, options: { configure?: boolean } = {}): Promise<HubHarness> {
  const t = await startTestApp(backend);
  const tenant = await createTenant(t.ctx);
  const site = await createSite(t.ctx.db, t.ctx.clock, tenant.accountId, { name: 'Shop' });
  const fake = await RetailCrmFake.start();
  if (options.configure !== false) {
    const res = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/sites/${site.id}/integrations/retailcrm`,
      headers: tenant.auth,
      payload: { domain: 'demo.retailcrm.ru', apiKey: fake.apiKey, apiBaseUrl: fake.url },
    });
    if (res.statusCode !== 200) throw new Error(`configure failed: ${res.statusCode} ${res.body}`);
  }
  const runners: HubRunner[] = [];
  const harness: HubHarness = {
    t,
    tenant,
    siteId: site.id,
    siteKey: site.public_key,
    fake,
    runners,
    async startRunner(extra = {}) {
      const runner = new HubRunner({
        db: t.ctx.db,
        box: t.ctx.secrets,
        clock: t.ctx.clock,
        logger: t.ctx.logger,
        multiProcess: t.ctx.database.kind === 'postgres',
        tickMs: 100,
        sweepMs: 300,
        timeoutMs: 2000,
        ...extra,
      });
      await runner.start();
      runners.push(runner);
      return runner;
    },
    async visitor(label) {
      const identified = await identifyVisitor(
        t.ctx.db,
        t.ctx.clock,
        await siteByPublicKey(t.ctx.db, site.public_key),
        undefined,
        label,
      );
      return identified.visitor;
    },
    async close() {
      for (const r of runners) await r.stop();
      await fake.close();
      await t.close();
    },
  };
  return harness;
}

export async function waitFor<T>(
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`timed out waiting; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const creates = (fake: RetailCrmFake) => fake.server.find('POST', '/api/v5/customers/create');
