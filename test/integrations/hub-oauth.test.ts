import crypto from 'node:crypto';
import os from 'node:os';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/accounts/secrets.ts';
import { writeOutbox } from '../../src/chat/outbox.ts';
import { createSite } from '../../src/chat/sites.ts';
import { buildApp } from '../../src/http/app.ts';
import type { AppContext } from '../../src/http/context.ts';
import type { TokenSet } from '../../src/integrations/crm/http.ts';
import { HubRunner } from '../../src/integrations/hub/runner.ts';
import { tokensAad } from '../../src/integrations/hub/store.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { AmoCrmFake } from '../fakes/amocrm.ts';
import { Bitrix24Fake } from '../fakes/bitrix24.ts';
import type { RecordedRequest } from '../fakes/crm-server.ts';
import { createTenant, type Tenant } from '../support/app.ts';
import { type Backend, backends } from '../support/db.ts';
import { waitFor } from './hub-support.ts';

/**
 * OAuth of amoCRM and Bitrix24 end to end: the cabinet's authorize redirect, the CRM's redirect back to
 * our callback (state checked before anything else), sealed token storage, refresh before expiry and on
 * a 401 through the hub runner, one refresh for many concurrent calls, and a rejected refresh token
 * pausing deliveries until access is granted again. The fakes implement the real token endpoints
 * (test/fakes/amocrm.ts, bitrix24.ts name their sources). Every log line of the app and the runner is
 * captured at trace level to check that no token or client secret reaches it.
 */

interface Harness {
  ctx: AppContext;
  app: FastifyInstance;
  clock: ManualClock;
  tenant: Tenant;
  siteId: number;
  logs: string[];
  runners: HubRunner[];
  startRunner(): Promise<HubRunner>;
  close(): Promise<void>;
}

async function start(backend: Backend): Promise<Harness> {
  const database = await backend.open();
  const clock = new ManualClock('2026-11-25T09:00:00Z');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const ctx: AppContext = {
    database,
    db: database.db,
    clock,
    logger: createLogger('trace', sink),
    secrets: new SecretBox(crypto.randomBytes(32)),
    defaultRegion: 'RU',
    dataDir: os.tmpdir(),
    secureCookies: false,
  };
  const app = await buildApp(ctx, { rateLimit: false });
  await app.ready();
  const tenant = await createTenant(ctx);
  const site = await createSite(ctx.db, clock, tenant.accountId, { name: 'Shop' });
  const runners: HubRunner[] = [];
  return {
    ctx,
    app,
    clock,
    tenant,
    siteId: site.id,
    logs,
    runners,
    async startRunner() {
      const runner = new HubRunner({
        db: ctx.db,
        box: ctx.secrets,
        clock,
        logger: ctx.logger,
        multiProcess: database.kind === 'postgres',
        tickMs: 100,
        sweepMs: 300,
        pollMs: 200,
        timeoutMs: 2000,
      });
      await runner.start();
      runners.push(runner);
      return runner;
    },
    async close() {
      for (const r of runners) await r.stop();
      await app.close();
      await database.close();
    },
  };
}

const base = (h: Harness, system: string) => `/api/v1/sites/${h.siteId}/integrations/${system}`;

async function state(h: Harness, system: string) {
  return (await h.app.inject({ method: 'GET', url: base(h, system), headers: h.tenant.auth })).json();
}

/** The authorize redirect's `state`, as the CRM would hand it back. */
async function authorize(h: Harness, system: string): Promise<URL> {
  const res = await h.app.inject({
    method: 'GET',
    url: `${base(h, system)}/oauth/authorize`,
    headers: h.tenant.auth,
  });
  expect(res.statusCode).toBe(302);
  return new URL(String(res.headers.location));
}

const callback = (h: Harness, system: string, query: Record<string, string>) =>
  h.app.inject({
    method: 'GET',
    url: `/api/v1/integrations/oauth/${system}/callback?${new URLSearchParams(query)}`,
  });

async function storedTokens(h: Harness): Promise<TokenSet> {
  const row = await h.ctx.db
    .selectFrom('integrations')
    .select(['id', 'tokens_sealed'])
    .executeTakeFirstOrThrow();
  return JSON.parse(h.ctx.secrets.decrypt(row.tokens_sealed!, tokensAad(row.id))) as TokenSet;
}

let phones = 0;
async function capture(h: Harness): Promise<number> {
  const now = h.clock.now();
  phones += 1;
  const contact = await h.ctx.db
    .insertInto('contacts')
    .values({
      account_id: h.tenant.accountId,
      phone: `+7916777${String(phones).padStart(4, '0')}`,
      name: `OAuth ${phones}`,
      vars: '{}',
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await writeOutbox(h.ctx.db, h.clock, [
    {
      accountId: h.tenant.accountId,
      siteId: h.siteId,
      kind: 'contact.captured',
      payload: { contact: { id: contact.id } },
    },
  ]);
  return contact.id;
}

const eventStatuses = async (h: Harness) =>
  (await h.ctx.db.selectFrom('integration_events').select('status').orderBy('id').execute()).map(
    (e) => e.status,
  );

const bearer = (r: RecordedRequest) => (r.headers.authorization ?? '').replace(/^Bearer /, '');

describe.each(backends)('CRM OAuth through the hub on $name', (backend) => {
  let h: Harness;
  let amo: AmoCrmFake | undefined;
  let b24: Bitrix24Fake | undefined;
  afterEach(async () => {
    await h?.close();
    await amo?.close();
    await b24?.close();
    amo = undefined;
    b24 = undefined;
  });

  const amoTokenRequests = () => amo!.server.find('POST', '/oauth2/access_token');
  const amoCreates = () => amo!.server.find('POST', '/api/v4/contacts');

  /** Saves the amoCRM keys (pending: no tokens yet) and grants access through the redirect. */
  async function connectAmo(): Promise<Record<string, unknown>> {
    const saved = await h.app.inject({
      method: 'PUT',
      url: base(h, 'amocrm'),
      headers: h.tenant.auth,
      payload: {
        clientId: amo!.clientId,
        clientSecret: amo!.clientSecret,
        redirectUri: amo!.redirectUri,
        apiBaseUrl: amo!.url,
      },
    });
    expect(saved.statusCode).toBe(200);
    expect(saved.json()).toMatchObject({ status: 'pending', connected: false });
    const stateParam = (await authorize(h, 'amocrm')).searchParams.get('state')!;
    const res = await callback(h, 'amocrm', {
      code: amo!.issueCode(),
      referer: 'example.amocrm.ru',
      state: stateParam,
      from_widget: '0',
      platform: '1',
    });
    expect(res.statusCode).toBe(200);
    return res.json();
  }

  it('amoCRM: the redirect checks state, exchanges the code and stores the tokens sealed, never shown or logged', async () => {
    h = await start(backend);
    amo = await AmoCrmFake.start();
    await h.app.inject({
      method: 'PUT',
      url: base(h, 'amocrm'),
      headers: h.tenant.auth,
      payload: {
        clientId: amo.clientId,
        clientSecret: amo.clientSecret,
        redirectUri: amo.redirectUri,
        apiBaseUrl: amo.url,
      },
    });
    const location = await authorize(h, 'amocrm');
    expect(location.origin + location.pathname).toBe('https://www.amocrm.ru/oauth');
    expect(location.searchParams.get('client_id')).toBe(amo.clientId);
    const good = location.searchParams.get('state')!;
    const code = amo.issueCode();
    const redirect = { code, referer: 'example.amocrm.ru', platform: '1' };

    // A missing, forged, expired or other-system state is refused before the code goes anywhere.
    const tampered = `${good.slice(0, -4)}${good.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    for (const query of [redirect, { ...redirect, state: '' }, { ...redirect, state: tampered }]) {
      const res = await callback(h, 'amocrm', query);
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatchObject({ code: 'forbidden', field: 'state' });
    }
    expect((await callback(h, 'bitrix24', { ...redirect, state: good })).statusCode).toBe(403);
    h.clock.advance(31 * 60_000);
    expect((await callback(h, 'amocrm', { ...redirect, state: good })).statusCode).toBe(403);
    h.clock.advance(-31 * 60_000);
    expect(amoTokenRequests()).toHaveLength(0);
    expect(await state(h, 'amocrm')).toMatchObject({ status: 'pending', connected: false });

    const res = await callback(h, 'amocrm', { ...redirect, state: good });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'connected', connected: true, delivery_paused: false });
    expect(res.json().settings.accountHost).toBe('example.amocrm.ru');
    expect(amoTokenRequests().map((r) => r.json)).toEqual([
      {
        client_id: amo.clientId,
        client_secret: amo.clientSecret,
        redirect_uri: amo.redirectUri,
        grant_type: 'authorization_code',
        code,
      },
    ]);
    // The exchange's tokens work: the test call after it used them.
    const tokens = await storedTokens(h);
    expect(tokens.accessToken).toMatch(/^access-/);
    expect(tokens.refreshToken).toMatch(/^refresh-/);
    expect(bearer(amo.server.find('GET', '/api/v4/account').at(-1)!)).toBe(tokens.accessToken);

    // The one-time code is a credential too: the request log must not carry the callback's URL.
    const secrets = [tokens.accessToken, tokens.refreshToken!, amo.clientSecret, code];
    const row = await h.ctx.db.selectFrom('integrations').selectAll().executeTakeFirstOrThrow();
    const shown = [
      res.body,
      JSON.stringify(await state(h, 'amocrm')),
      (
        await h.app.inject({
          method: 'GET',
          url: `/api/v1/sites/${h.siteId}/integrations`,
          headers: h.tenant.auth,
        })
      ).body,
    ];
    expect(h.logs.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(JSON.stringify(row)).not.toContain(secret);
      for (const body of shown) expect(body).not.toContain(secret);
      expect(h.logs.join('\n')).not.toContain(secret);
    }
  });

  it("amoCRM: the redirect URL is this server's, from PUBLIC_URL, unless given", async () => {
    h = await start(backend);
    const put = (payload: Record<string, unknown>) =>
      h.app.inject({ method: 'PUT', url: base(h, 'amocrm'), headers: h.tenant.auth, payload });
    const form = { clientId: 'integration-1', clientSecret: 'secret-1' };
    const refused = await put(form);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatchObject({ code: 'validation_failed', field: 'redirectUri' });
    h.ctx.publicUrl = 'https://chat.example.com/';
    const saved = await put(form);
    expect(saved.statusCode).toBe(200);
    expect(saved.json().settings.redirectUri).toBe(
      'https://chat.example.com/api/v1/integrations/oauth/amocrm/callback',
    );
  });

  it('amoCRM: the runner refreshes before expiry and after a 401, and keeps the new single-use pair', async () => {
    h = await start(backend);
    amo = await AmoCrmFake.start();
    await connectAmo();
    const granted = await storedTokens(h);
    await h.startRunner();

    // Thirty seconds before the 24 h expiry: refreshed first, no request goes out with the old token.
    h.clock.advance(86_400_000 - 30_000);
    amo.server.reset();
    await capture(h);
    await waitFor(amoCreates, (c) => c.length === 1);
    const [refresh, ...api] = amo.server.requests;
    expect(refresh?.path).toBe('/oauth2/access_token');
    expect(refresh?.json).toMatchObject({ grant_type: 'refresh_token', refresh_token: granted.refreshToken });
    const renewed = await storedTokens(h);
    expect(renewed.refreshToken).not.toBe(granted.refreshToken);
    expect(api.map(bearer)).toEqual(api.map(() => renewed.accessToken));

    // amoCRM drops the token early: the 401 triggers one refresh and the same call again.
    amo.expireAccessTokens();
    amo.server.reset();
    await capture(h);
    await waitFor(amoCreates, (c) => c.length === 1);
    // The create reaching the fake comes before the runner marks the event done: wait for that too.
    await waitFor(
      () => eventStatuses(h),
      (s) => s.length === 2 && s.every((x) => x === 'done'),
    );
    const requests = amo.server.requests;
    expect(requests[0]!.path).toBe('/api/v4/contacts');
    expect(bearer(requests[0]!)).toBe(renewed.accessToken);
    expect(requests[1]!.json).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: renewed.refreshToken,
    });
    const third = await storedTokens(h);
    expect(requests.slice(2).map(bearer)).toEqual(requests.slice(2).map(() => third.accessToken));
    expect(amoTokenRequests()).toHaveLength(1);
  });

  it('amoCRM: many concurrent calls on an expired token make one refresh request', async () => {
    h = await start(backend);
    amo = await AmoCrmFake.start();
    await connectAmo();
    amo.expireAccessTokens();
    amo.server.reset();
    const listings = await Promise.all(
      Array.from({ length: 10 }, () =>
        h.app.inject({ method: 'GET', url: `${base(h, 'amocrm')}/operators`, headers: h.tenant.auth }),
      ),
    );
    for (const res of listings) {
      expect(res.statusCode).toBe(200);
      expect(res.json().crm_error).toBeNull();
      expect(res.json().crm_users.length).toBeGreaterThan(0);
    }
    expect(amoTokenRequests()).toHaveLength(1);

    // The runner's drains (several in flight per integration) share the same single flight.
    await h.startRunner();
    amo.expireAccessTokens();
    amo.server.reset();
    for (let i = 0; i < 8; i++) await capture(h);
    await waitFor(amoCreates, (c) => c.length === 8);
    expect(amoTokenRequests()).toHaveLength(1);
    expect(amo.contacts.size).toBe(8);
  });

  it('amoCRM: a rejected refresh token pauses deliveries with a clear error until access is granted again', async () => {
    h = await start(backend);
    amo = await AmoCrmFake.start();
    await connectAmo();
    await h.startRunner();
    amo.revokeRefreshTokens();
    amo.expireAccessTokens();
    amo.server.reset();
    for (let i = 0; i < 3; i++) await capture(h);
    const paused = await waitFor(
      () => state(h, 'amocrm'),
      (s) => s.delivery_paused === true && s.queue_depth === 3,
    );
    expect(paused).toMatchObject({ status: 'error', connected: false, failed_count: 0 });
    expect(paused.last_error).toMatchObject({ kind: 'permanent', reason: 'reauthorization_required' });
    // Waiting, not looping: several sweeps later nothing more went to amoCRM and nothing was parked.
    const attempts = amo.server.requests.length;
    expect(amoTokenRequests().length).toBeGreaterThanOrEqual(1);
    expect(amoTokenRequests().length).toBeLessThanOrEqual(3);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(amo.server.requests).toHaveLength(attempts);
    expect(await eventStatuses(h)).toEqual(['pending', 'pending', 'pending']);
    expect(amo.contacts.size).toBe(0);

    // The admin grants access again: the waiting events go out, once each.
    const stateParam = (await authorize(h, 'amocrm')).searchParams.get('state')!;
    const res = await callback(h, 'amocrm', {
      code: amo.issueCode(),
      referer: 'example.amocrm.ru',
      state: stateParam,
    });
    expect(res.json()).toMatchObject({ status: 'connected', delivery_paused: false, last_error: null });
    await waitFor(
      () => eventStatuses(h),
      (s) => s.every((x) => x === 'done'),
    );
    expect(amoCreates()).toHaveLength(3);
    expect(amo.contacts.size).toBe(3);
  });

  it('Bitrix24: install redirect, refresh before expiry, one refresh for concurrent calls, pause on invalid_grant', async () => {
    h = await start(backend);
    b24 = await Bitrix24Fake.start();
    const tokenRequests = () => b24!.server.find('GET', '/oauth/token/');
    const saved = await h.app.inject({
      method: 'PUT',
      url: base(h, 'bitrix24'),
      headers: h.tenant.auth,
      payload: {
        portal: 'example.bitrix24.ru',
        clientId: b24.clientId,
        clientSecret: b24.clientSecret,
        oauthServerUrl: b24.url,
        apiBaseUrl: b24.url,
      },
    });
    expect(saved.json()).toMatchObject({ status: 'pending' });
    const location = await authorize(h, 'bitrix24');
    expect(location.origin + location.pathname).toBe('https://example.bitrix24.ru/oauth/authorize/');
    const good = location.searchParams.get('state')!;
    const code = b24.issueCode();
    const redirect = { code, domain: 'example.bitrix24.ru', member_id: 'a223c6b3710f85df22e9377d6c4f7553' };
    expect((await callback(h, 'bitrix24', redirect)).statusCode).toBe(403);
    expect((await callback(h, 'bitrix24', { ...redirect, state: `x${good}` })).statusCode).toBe(403);
    expect(tokenRequests()).toHaveLength(0);

    const res = await callback(h, 'bitrix24', { ...redirect, state: good, scope: 'crm,user' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'connected', account_name: 'example.bitrix24.ru' });
    expect(Object.fromEntries(tokenRequests()[0]!.query)).toEqual({
      grant_type: 'authorization_code',
      code,
      client_id: b24.clientId,
      client_secret: b24.clientSecret,
    });
    const granted = await storedTokens(h);
    const row = await h.ctx.db.selectFrom('integrations').selectAll().executeTakeFirstOrThrow();
    for (const secret of [granted.accessToken, granted.refreshToken!, b24.clientSecret]) {
      expect(JSON.stringify(row)).not.toContain(secret);
      expect(res.body).not.toContain(secret);
      expect(h.logs.join('\n')).not.toContain(secret);
    }

    // An hour's token, refreshed half a minute before it ends.
    await h.startRunner();
    h.clock.advance(3_600_000 - 30_000);
    b24.server.reset();
    await capture(h);
    await waitFor(
      () => b24!.server.find('POST', '/rest/crm.lead.add'),
      (adds) => adds.length === 1,
    );
    await waitFor(
      () => eventStatuses(h),
      (s) => s.length === 1 && s[0] === 'done',
    );
    expect(b24.server.requests[0]!.path).toBe('/oauth/token/');
    expect(b24.server.requests[0]!.query.get('grant_type')).toBe('refresh_token');
    expect(b24.server.requests[0]!.query.get('refresh_token')).toBe(granted.refreshToken);
    const renewed = await storedTokens(h);
    const auths = b24.server.requests.slice(1).map((r) => (r.json as { auth?: string }).auth);
    expect(auths).toEqual(auths.map(() => renewed.accessToken));

    // expired_token on many concurrent calls: one refresh.
    b24.expireAccessTokens();
    b24.server.reset();
    const listings = await Promise.all(
      Array.from({ length: 6 }, () =>
        h.app.inject({ method: 'GET', url: `${base(h, 'bitrix24')}/operators`, headers: h.tenant.auth }),
      ),
    );
    for (const r of listings) expect(r.json().crm_error).toBeNull();
    expect(tokenRequests()).toHaveLength(1);

    // invalid_grant: paused with the reason, the event waits.
    b24.revokeRefreshTokens();
    b24.expireAccessTokens();
    b24.server.reset();
    await capture(h);
    const paused = await waitFor(
      () => state(h, 'bitrix24'),
      (s) => s.delivery_paused === true,
    );
    expect(paused.last_error).toMatchObject({
      reason: 'reauthorization_required',
      vendorCode: 'invalid_grant',
    });
    const attempts = b24.server.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(b24.server.requests).toHaveLength(attempts);
    expect(await eventStatuses(h)).toEqual(['done', 'pending']);
  });
});
