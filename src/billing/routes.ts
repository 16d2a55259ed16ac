import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountOf, requireAccount, requirePlatformAdmin } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { idParams } from '../http/schemas.ts';
import { getBalance, listLedger, topUp } from './ledger.ts';
import { listPrices, setPrice } from './prices.ts';
import { pricedChannels } from './validation.ts';

const kopecks = z.number().int().safe();

export const billingRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    const member = requireAccount();

    app.get(
      '/balance',
      { preHandler: member, schema: { tags: ['billing'], summary: 'Account balance in kopecks' } },
      async (request) => ({
        balance: await getBalance(ctx.db, accountOf(request)),
        currency: 'RUB',
        unit: 'kopeck',
      }),
    );
    app.get(
      '/ledger',
      {
        preHandler: member,
        schema: {
          tags: ['billing'],
          summary: 'Every money movement, newest first; page with `before`',
          querystring: z.strictObject({
            limit: z.coerce.number().int().min(1).max(1000).default(100),
            before: z.coerce.number().int().positive().optional(),
          }),
        },
      },
      async (request) => listLedger(ctx.db, accountOf(request), request.query),
    );
    app.get(
      '/prices',
      {
        preHandler: member,
        schema: { tags: ['billing'], summary: 'Effective price list of the account (kopecks per send)' },
      },
      async (request) => ({ items: await listPrices(ctx.db, accountOf(request)) }),
    );

    // Platform administration: the install's operator, not a tenant.
    app.get(
      '/admin/accounts',
      {
        preHandler: requirePlatformAdmin,
        schema: { tags: ['admin'], summary: 'All accounts with balances' },
      },
      async () => ({
        items: await ctx.db
          .selectFrom('accounts')
          .select(['id', 'name', 'balance', 'created_at'])
          .orderBy('id')
          .execute(),
      }),
    );
    app.post(
      '/admin/accounts/:id/topup',
      {
        preHandler: requirePlatformAdmin,
        schema: {
          tags: ['admin'],
          summary: 'Top up an account (kopecks)',
          params: idParams,
          body: z.strictObject({ amount: kopecks.positive(), description: z.string().max(500).optional() }),
        },
      },
      async (request) =>
        topUp(ctx.db, ctx.clock, {
          accountId: request.params.id,
          amount: request.body.amount,
          description: request.body.description,
          createdBy: request.principal?.userId ?? null,
        }),
    );
    app.put(
      '/admin/prices',
      {
        preHandler: requirePlatformAdmin,
        schema: {
          tags: ['admin'],
          summary: 'Set a price: the install default (account_id null) or an account override',
          body: z.strictObject({
            account_id: z.number().int().positive().nullable().default(null),
            channel: z.enum(pricedChannels as [string, ...string[]]),
            kind: z.string().min(1).max(50).default('message'),
            price: kopecks.nonnegative(),
          }),
        },
      },
      async (request) =>
        setPrice(ctx.db, {
          accountId: request.body.account_id,
          channel: request.body.channel as (typeof pricedChannels)[number],
          kind: request.body.kind,
          price: request.body.price,
        }),
    );
  };
