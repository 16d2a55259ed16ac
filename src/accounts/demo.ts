import crypto from 'node:crypto';
import { topUp } from '../billing/ledger.ts';
import { createSite } from '../chat/sites.ts';
import type { AppContext } from '../http/context.ts';
import { createAccount, createApiToken, createUser, findAccountByName } from './accounts.ts';

export const DEMO_ACCOUNT = 'Demo';
export const DEMO_EMAIL = 'demo@omnitalk.local';
const SETTING = 'demo_credentials';
/** 1,000 RUB so sandbox mailings can run out of the box. */
export const DEMO_BALANCE = 100_000;

export interface DemoCredentials {
  accountId: number;
  email: string;
  password: string;
  token: string;
  created: boolean;
}

/**
 * Creates the demo account on first start: an owner who is also the install's platform admin, a
 * random password and an API token (OMNITALK_DEMO_TOKEN when given). The credentials are kept sealed
 * with the secrets key so later starts can print them again.
 */
export async function ensureDemoAccount(
  ctx: AppContext,
  fixedToken: string | null,
): Promise<DemoCredentials> {
  const stored = await ctx.db
    .selectFrom('install_settings')
    .select('value')
    .where('key', '=', SETTING)
    .executeTakeFirst();
  const existing = await findAccountByName(ctx.db, DEMO_ACCOUNT);
  if (stored && existing) {
    const creds = JSON.parse(ctx.secrets.decrypt(stored.value, SETTING)) as Omit<DemoCredentials, 'created'>;
    await ensureDemoSite(ctx, creds.accountId);
    return { ...creds, created: false };
  }
  const password = crypto.randomBytes(9).toString('base64url');
  const creds = await ctx.db.transaction().execute(async (trx) => {
    const account = existing ?? (await createAccount(trx, ctx.clock, DEMO_ACCOUNT));
    await createUser(trx, ctx.clock, {
      accountId: account.id,
      email: DEMO_EMAIL,
      password,
      role: 'owner',
      name: 'Demo owner',
      isPlatformAdmin: true,
    });
    const { token } = await createApiToken(trx, ctx.clock, account.id, {
      name: 'demo',
      ...(fixedToken ? { token: fixedToken } : {}),
    });
    if (!existing) {
      await topUp(trx, ctx.clock, {
        accountId: account.id,
        amount: DEMO_BALANCE,
        description: 'Demo balance',
      });
    }
    const value = { accountId: account.id, email: DEMO_EMAIL, password, token };
    await trx
      .insertInto('install_settings')
      .values({ key: SETTING, value: ctx.secrets.encrypt(JSON.stringify(value), SETTING) })
      .execute();
    return value;
  });
  await ensureDemoSite(ctx, creds.accountId);
  return { ...creds, created: true };
}

export const DEMO_SITE = 'Демо-магазин';

/** The demo account's site, whose widget the demo page (/demo) embeds; created when it has none. */
export async function ensureDemoSite(ctx: AppContext, accountId: number): Promise<void> {
  const site = await ctx.db
    .selectFrom('sites')
    .select('id')
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  if (!site) await createSite(ctx.db, ctx.clock, accountId, { name: DEMO_SITE });
}
