import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SecretBox } from '../../src/accounts/secrets.ts';
import { CrmError } from '../../src/integrations/crm/errors.ts';
import {
  HttpClient,
  MemoryTokenStore,
  parseRetryAfter,
  type TokenSet,
  withTokens,
} from '../../src/integrations/crm/http.ts';
import {
  field,
  mergeSettingsUpdate,
  openSettings,
  publicSettings,
  sealSettings,
  storableSettings,
} from '../../src/integrations/crm/settings.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { FakeHttpServer } from '../fakes/crm-server.ts';

describe('HttpClient error classification', () => {
  let server: FakeHttpServer;
  const http = new HttpClient({ timeoutMs: 300 });
  beforeAll(async () => {
    server = await FakeHttpServer.start(() => ({ status: 200, body: { ok: true } }));
  });
  afterAll(() => server.close());

  const call = (effect: 'read' | 'write' | 'create') =>
    http
      .call({ method: 'POST', url: `${server.url}/x?apikey=secret-key`, json: {}, effect, label: 'test' })
      .then(
        () => null,
        (e: unknown) => e as CrmError,
      );

  it('parses JSON answers and sends JSON and form bodies', async () => {
    server.reset();
    const response = await http.call({
      method: 'POST',
      url: `${server.url}/a`,
      form: { a: '1' },
      effect: 'read',
      label: 't',
    });
    expect(response.body).toEqual({ ok: true });
    expect(server.requests[0]?.form.get('a')).toBe('1');
  });

  it('classifies 429 as retryable for every effect, with Retry-After', async () => {
    server.inject({ when: () => true, respond: { status: 429, headers: { 'retry-after': '12' } } });
    expect(await call('create')).toMatchObject({
      kind: 'retryable',
      reason: 'rate_limited',
      retryAfterMs: 12_000,
    });
  });

  it('classifies 5xx as unknown outcome for a create and retryable otherwise', async () => {
    server.inject({ when: () => true, respond: { status: 503 }, times: 2 });
    expect(await call('create')).toMatchObject({ kind: 'unknown_outcome', reason: 'server_error' });
    expect(await call('write')).toMatchObject({ kind: 'retryable', reason: 'server_error' });
  });

  it('classifies 4xx as permanent', async () => {
    server.inject({ when: () => true, respond: { status: 422 } });
    expect(await call('read')).toMatchObject({ kind: 'permanent', reason: 'validation', status: 422 });
    server.inject({ when: () => true, respond: { status: 401 } });
    expect(await call('read')).toMatchObject({ kind: 'permanent', reason: 'unauthorized' });
  });

  it('classifies a timeout by effect and never puts the URL (with its key) into the message', async () => {
    server.inject({ when: () => true, respond: { status: 200, delayMs: 1000 } });
    const error = await call('create');
    expect(error).toMatchObject({ kind: 'unknown_outcome', reason: 'timeout' });
    expect(error?.message).not.toContain('secret-key');
  });

  it('treats a refused connection as never sent, so even a create may be retried', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const error = await http
      .call({ method: 'POST', url: `http://127.0.0.1:${port}/`, json: {}, effect: 'create', label: 'closed' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'retryable', reason: 'network' });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe('token refresh', () => {
  const clock = new ManualClock('2026-01-01T00:00:00Z');
  const expired = (): TokenSet => ({
    accessToken: 'a0',
    refreshToken: 'r0',
    expiresAt: clock.now().getTime() - 1,
  });
  const unauthorized = () => new CrmError('401', { kind: 'permanent', reason: 'unauthorized', status: 401 });

  it('runs one refresh for many concurrent callers of one integration', async () => {
    const store = new MemoryTokenStore('race:1', expired());
    let refreshes = 0;
    const refresh = async (current: TokenSet | null): Promise<TokenSet> => {
      refreshes += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return {
        accessToken: `a${refreshes}`,
        refreshToken: `r${refreshes}`,
        expiresAt: clock.now().getTime() + 3600_000,
        extra: { from: current?.refreshToken ?? '' },
      };
    };
    const ctx = { tokens: store, clock };
    const used = await Promise.all(
      [1, 2, 3, 4].map(() => withTokens(ctx, refresh, async (t) => t.accessToken)),
    );
    expect(used).toEqual(['a1', 'a1', 'a1', 'a1']);
    expect(refreshes).toBe(1);
    expect(store.saved.map((t) => t.extra?.from)).toEqual(['r0']);
  });

  it('retries once after a 401 and gives up on a second one', async () => {
    const store = new MemoryTokenStore('race:2', { accessToken: 'a0', refreshToken: 'r0', expiresAt: null });
    let n = 0;
    const refresh = async (): Promise<TokenSet> => ({
      accessToken: `a${++n}`,
      refreshToken: `r${n}`,
      expiresAt: null,
    });
    const seen: string[] = [];
    await expect(
      withTokens({ tokens: store, clock }, refresh, async (t) => {
        seen.push(t.accessToken);
        throw unauthorized();
      }),
    ).rejects.toMatchObject({ reason: 'unauthorized' });
    expect(seen).toEqual(['a0', 'a1']);
  });

  it('skips its own refresh when another process refreshed inside the lock', async () => {
    // The row lock of another process: by the time we hold it, the tokens in the store are new.
    const memory = new MemoryTokenStore('race:3', { accessToken: 'a0', refreshToken: 'r0', expiresAt: null });
    const store = Object.assign(memory, {
      withRefreshLock: async <T>(fn: () => Promise<T>) => {
        await memory.save({ accessToken: 'other', refreshToken: 'r-other', expiresAt: null });
        return fn();
      },
    });
    let refreshed = false;
    const seen: string[] = [];
    await withTokens(
      { tokens: store, clock },
      async () => {
        refreshed = true;
        return { accessToken: 'mine', refreshToken: null, expiresAt: null };
      },
      async (t) => {
        seen.push(t.accessToken);
        if (t.accessToken === 'a0') throw unauthorized();
        return t;
      },
    );
    expect(refreshed).toBe(false);
    expect(seen).toEqual(['a0', 'other']);
  });

  it('asks for re-authorisation when an OAuth integration has nothing stored', async () => {
    const oauth = async (current: TokenSet | null): Promise<TokenSet> => {
      if (!current)
        throw new CrmError('grant access', { kind: 'permanent', reason: 'reauthorization_required' });
      return current;
    };
    await expect(
      withTokens({ tokens: new MemoryTokenStore('race:4'), clock }, oauth, async () => 1),
    ).rejects.toMatchObject({ kind: 'permanent', reason: 'reauthorization_required' });
  });

  it('logs in when a login-based integration has nothing stored yet', async () => {
    const store = new MemoryTokenStore('race:5');
    const login = async (): Promise<TokenSet> => ({
      accessToken: 'session',
      refreshToken: null,
      expiresAt: null,
    });
    expect(await withTokens({ tokens: store, clock }, login, async (t) => t.accessToken)).toBe('session');
    expect(store.saved).toHaveLength(1);
  });
});

describe('settings secrecy', () => {
  const schema = z.object({
    domain: field(z.string(), { label: { ru: 'Домен', en: 'Domain' } }),
    apiKey: field(z.string(), { label: { ru: 'Ключ', en: 'Key' }, secret: true }),
    password: field(z.string().optional(), { label: { ru: 'Пароль', en: 'Password' }, transient: true }),
  });
  const box = new SecretBox(Buffer.alloc(32, 7));

  it('never stores transient fields and never shows secret ones', () => {
    const input = { domain: 'acme', apiKey: 'k-1', password: 'p@ss' };
    expect(storableSettings(schema, input)).toEqual({ domain: 'acme', apiKey: 'k-1' });
    expect(publicSettings(schema, input)).toEqual({
      values: { domain: 'acme' },
      secretsSet: ['apiKey', 'password'],
    });
  });

  it('seals secrets with the owner bound, and opens them back', () => {
    const sealed = sealSettings(
      schema,
      { domain: 'acme', apiKey: 'k-1', password: 'p@ss' },
      box,
      'integration:1',
    );
    expect(sealed.plain).toEqual({ domain: 'acme' });
    expect(sealed.sealed).not.toContain('k-1');
    expect(sealed.sealed).not.toContain('p@ss');
    expect(openSettings(schema, sealed, box, 'integration:1')).toEqual({ domain: 'acme', apiKey: 'k-1' });
    expect(() => openSettings(schema, sealed, box, 'integration:2')).toThrow();
  });

  it('keeps a stored secret when the form leaves it empty', () => {
    expect(mergeSettingsUpdate(schema, { domain: 'a', apiKey: 'old' }, { domain: 'b', apiKey: '' })).toEqual({
      domain: 'b',
      apiKey: 'old',
    });
  });
});
