import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountOf, requireAccount, SESSION_COOKIE } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { idParams } from '../http/schemas.ts';
import { AppError } from '../shared/errors.ts';
import {
  createApiToken,
  createUser,
  deleteUser,
  listApiTokens,
  listUsers,
  login,
  logout,
  revokeApiToken,
} from './accounts.ts';

export const accountRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    const managers = requireAccount({ roles: ['owner', 'admin'] });

    app.post(
      '/auth/login',
      {
        config: { rateLimit: { max: 20, timeWindow: '1 minute' } },
        schema: {
          tags: ['auth'],
          summary: 'Password login; sets an HTTP-only session cookie for the web apps',
          security: [],
          body: z.strictObject({ email: z.string().min(3).max(320), password: z.string().min(1).max(1000) }),
        },
      },
      async (request, reply) => {
        const { token, user, expiresAt } = await login(
          ctx.db,
          ctx.clock,
          request.body.email,
          request.body.password,
        );
        reply.setCookie(SESSION_COOKIE, token, {
          httpOnly: true,
          sameSite: 'lax',
          secure: ctx.secureCookies,
          path: '/',
          expires: expiresAt,
        });
        return { user };
      },
    );

    app.post(
      '/auth/logout',
      { schema: { tags: ['auth'], summary: 'Ends the session' } },
      async (request, reply) => {
        const token = request.cookies[SESSION_COOKIE];
        if (token) await logout(ctx.db, token);
        reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return { ok: true };
      },
    );

    app.get('/me', { schema: { tags: ['auth'], summary: 'The caller' } }, async (request) => {
      const p = request.principal;
      if (!p) throw new AppError('unauthorized', 'Authentication required', { field: 'authorization' });
      const account = p.accountId
        ? await ctx.db
            .selectFrom('accounts')
            .select(['id', 'name', 'balance'])
            .where('id', '=', p.accountId)
            .executeTakeFirst()
        : null;
      return { principal: p, account: account ?? null };
    });

    app.get(
      '/tokens',
      {
        preHandler: managers,
        schema: { tags: ['tokens'], summary: 'API tokens of the account (never their values)' },
      },
      async (request) => ({ items: await listApiTokens(ctx.db, accountOf(request)) }),
    );

    app.post(
      '/tokens',
      {
        preHandler: managers,
        schema: {
          tags: ['tokens'],
          summary: 'Create an API token; the value is shown once',
          body: z.strictObject({ name: z.string().max(200).optional() }),
        },
      },
      async (request, reply) => {
        const { token, row } = await createApiToken(ctx.db, ctx.clock, accountOf(request), {
          name: request.body.name,
        });
        reply.status(201);
        return { ...row, token };
      },
    );

    app.delete(
      '/tokens/:id',
      {
        preHandler: managers,
        schema: { tags: ['tokens'], summary: 'Revoke an API token', params: idParams },
      },
      async (request) => {
        await revokeApiToken(ctx.db, ctx.clock, accountOf(request), request.params.id);
        return { ok: true };
      },
    );

    app.get(
      '/users',
      { preHandler: managers, schema: { tags: ['users'], summary: 'Users of the account' } },
      async (request) => ({ items: await listUsers(ctx.db, accountOf(request)) }),
    );

    app.post(
      '/users',
      {
        preHandler: managers,
        schema: {
          tags: ['users'],
          summary: 'Add an admin or operator to the account',
          body: z.strictObject({
            email: z.string().min(3).max(320),
            password: z.string().min(8).max(1000),
            name: z.string().max(200).optional(),
            role: z.enum(['admin', 'operator']),
          }),
        },
      },
      async (request, reply) => {
        const user = await createUser(ctx.db, ctx.clock, { accountId: accountOf(request), ...request.body });
        reply.status(201);
        return user;
      },
    );

    app.delete(
      '/users/:id',
      { preHandler: managers, schema: { tags: ['users'], summary: 'Remove a user', params: idParams } },
      async (request) => {
        await deleteUser(ctx.db, accountOf(request), request.params.id);
        return { ok: true };
      },
    );
  };
