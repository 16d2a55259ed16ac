import type { FastifyReply, FastifyRequest } from 'fastify';
import { authenticateApiToken, authenticateSession, type Principal } from '../accounts/accounts.ts';
import type { Role } from '../db/schema.ts';
import { AppError } from '../shared/errors.ts';
import type { AppContext } from './context.ts';

export const SESSION_COOKIE = 'omnitalk_session';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Resolves the caller from `Authorization: Bearer <token>` or the session cookie. */
export async function resolvePrincipal(ctx: AppContext, request: FastifyRequest): Promise<Principal | null> {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match)
      throw new AppError('unauthorized', 'Authorization header must be "Bearer <token>"', {
        field: 'authorization',
      });
    const principal = await authenticateApiToken(ctx.db, ctx.clock, match[1]!);
    if (!principal)
      throw new AppError('unauthorized', 'Invalid or revoked API token', { field: 'authorization' });
    return principal;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (cookie) return authenticateSession(ctx.db, ctx.clock, cookie);
  return null;
}

export interface Guard {
  roles?: Role[];
  platformAdmin?: boolean;
}

/** preHandler factory: requires an authenticated caller of an account (and optionally a role). */
export function requireAccount(guard: Guard = {}) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const p = request.principal;
    if (!p) throw new AppError('unauthorized', 'Authentication required', { field: 'authorization' });
    if (p.accountId === null)
      throw new AppError('forbidden', 'This user belongs to no account', { field: 'authorization' });
    if (guard.roles && (!p.role || !guard.roles.includes(p.role))) {
      throw new AppError('forbidden', `Requires role ${guard.roles.join(' or ')}`, {
        field: 'authorization',
      });
    }
  };
}

export async function requirePlatformAdmin(request: FastifyRequest): Promise<void> {
  const p = request.principal;
  if (!p) throw new AppError('unauthorized', 'Authentication required', { field: 'authorization' });
  if (!p.isPlatformAdmin)
    throw new AppError('forbidden', 'Platform administrators only', { field: 'authorization' });
}

/** The caller's account id; only valid behind requireAccount. */
export function accountOf(request: FastifyRequest): number {
  const id = request.principal?.accountId;
  if (id === null || id === undefined) throw new AppError('unauthorized', 'Authentication required');
  return id;
}
