import crypto from 'node:crypto';
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { createAccount, createApiToken, createUser } from '../../src/accounts/accounts.ts';
import { SecretBox } from '../../src/accounts/secrets.ts';
import { type BuildOptions, buildApp } from '../../src/http/app.ts';
import type { AppContext } from '../../src/http/context.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { Backend } from './db.ts';

export interface TestApp {
  ctx: AppContext;
  app: FastifyInstance;
  clock: ManualClock;
  close(): Promise<void>;
}

export async function startTestApp(backend: Backend, options: BuildOptions = {}): Promise<TestApp> {
  const database = await backend.open();
  const clock = new ManualClock('2026-11-25T09:00:00Z');
  const ctx: AppContext = {
    database,
    db: database.db,
    clock,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    secrets: new SecretBox(crypto.randomBytes(32)),
    defaultRegion: 'RU',
    dataDir: os.tmpdir(),
    secureCookies: false,
  };
  const app = await buildApp(ctx, { rateLimit: false, ...options });
  await app.ready();
  return {
    ctx,
    app,
    clock,
    async close() {
      await app.close();
      await database.close();
    },
  };
}

export interface Tenant {
  accountId: number;
  token: string;
  ownerEmail: string;
  ownerPassword: string;
  auth: { authorization: string };
}

let seq = 0;
export async function createTenant(
  ctx: AppContext,
  name = `Tenant ${++seq} ${crypto.randomBytes(3).toString('hex')}`,
): Promise<Tenant> {
  const account = await createAccount(ctx.db, ctx.clock, name);
  const ownerEmail = `owner-${crypto.randomBytes(4).toString('hex')}@example.com`;
  const ownerPassword = 'correct horse battery';
  await createUser(ctx.db, ctx.clock, {
    accountId: account.id,
    email: ownerEmail,
    password: ownerPassword,
    role: 'owner',
  });
  const { token } = await createApiToken(ctx.db, ctx.clock, account.id, { name: 'test' });
  return {
    accountId: account.id,
    token,
    ownerEmail,
    ownerPassword,
    auth: { authorization: `Bearer ${token}` },
  };
}
