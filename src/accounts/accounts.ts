import type { Kysely } from 'kysely';
import type { DB, Role } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid } from '../shared/errors.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { API_TOKEN_PREFIX, generateToken, hashToken } from './tokens.ts';

export const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;

/** Who is calling: resolved once per request from an API token or a session cookie. */
export interface Principal {
  accountId: number | null;
  userId: number | null;
  role: Role | null;
  isPlatformAdmin: boolean;
  via: 'token' | 'session';
}

export interface AccountRow {
  id: number;
  name: string;
  balance: number;
  created_at: Date;
}

const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505';

export async function createAccount(db: Kysely<DB>, clock: Clock, name: string): Promise<AccountRow> {
  const trimmed = name.trim();
  if (!trimmed) throw invalid('name', 'Account name must not be empty');
  try {
    return await db
      .insertInto('accounts')
      .values({ name: trimmed, created_at: clock.now() })
      .returning(['id', 'name', 'balance', 'created_at'])
      .executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError('conflict', `Account "${trimmed}" already exists`, { field: 'name' });
    throw error;
  }
}

export async function findAccountByName(db: Kysely<DB>, name: string): Promise<AccountRow | undefined> {
  return db
    .selectFrom('accounts')
    .select(['id', 'name', 'balance', 'created_at'])
    .where('name', '=', name)
    .executeTakeFirst();
}

export async function requireAccountByName(db: Kysely<DB>, name: string): Promise<AccountRow> {
  const account = await findAccountByName(db, name);
  if (!account) throw new AppError('not_found', `Account "${name}" not found`, { field: 'account' });
  return account;
}

export interface UserRow {
  id: number;
  account_id: number | null;
  email: string;
  name: string;
  role: Role;
  is_platform_admin: boolean;
  created_at: Date;
}

const userColumns = ['id', 'account_id', 'email', 'name', 'role', 'is_platform_admin', 'created_at'] as const;

export async function createUser(
  db: Kysely<DB>,
  clock: Clock,
  input: {
    accountId: number | null;
    email: string;
    password: string;
    role: Role;
    name?: string;
    isPlatformAdmin?: boolean;
  },
): Promise<UserRow> {
  const email = input.email.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw invalid('email', 'A valid email is required');
  if (input.password.length < 8) throw invalid('password', 'Password must be at least 8 characters');
  const passwordHash = await hashPassword(input.password);
  try {
    return await db
      .insertInto('users')
      .values({
        account_id: input.accountId,
        email,
        name: input.name ?? '',
        password_hash: passwordHash,
        role: input.role,
        is_platform_admin: input.isPlatformAdmin ?? false,
        created_at: clock.now(),
      })
      .returning(userColumns)
      .executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError('conflict', `User ${email} already exists`, { field: 'email' });
    throw error;
  }
}

export async function listUsers(db: Kysely<DB>, accountId: number): Promise<UserRow[]> {
  return db
    .selectFrom('users')
    .select(userColumns)
    .where('account_id', '=', accountId)
    .orderBy('id')
    .execute();
}

export async function deleteUser(db: Kysely<DB>, accountId: number, userId: number): Promise<void> {
  const user = await db
    .selectFrom('users')
    .select(['id', 'role'])
    .where('account_id', '=', accountId)
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!user) throw new AppError('not_found', 'User not found', { field: 'id' });
  if (user.role === 'owner')
    throw new AppError('forbidden', 'The account owner cannot be deleted', { field: 'id' });
  await db.deleteFrom('users').where('id', '=', userId).execute();
}

/** Password login: returns a new session token (the cookie value) or throws unauthorized. */
export async function login(
  db: Kysely<DB>,
  clock: Clock,
  email: string,
  password: string,
): Promise<{ token: string; user: UserRow; expiresAt: Date }> {
  const row = await db
    .selectFrom('users')
    .select([...userColumns, 'password_hash'])
    .where('email', '=', email.trim().toLowerCase())
    .executeTakeFirst();
  // Verify even when the user is unknown so timing does not reveal which emails exist.
  const ok = await verifyPassword(row?.password_hash ?? DUMMY_HASH, password);
  if (!row || !ok) throw new AppError('unauthorized', 'Wrong email or password', { field: 'password' });
  const token = generateToken();
  const expiresAt = new Date(clock.now().getTime() + SESSION_TTL_MS);
  await db
    .insertInto('sessions')
    .values({ token_hash: hashToken(token), user_id: row.id, created_at: clock.now(), expires_at: expiresAt })
    .execute();
  const { password_hash: _omit, ...user } = row;
  return { token, user, expiresAt };
}

// argon2id hash of a random string nobody knows; only used to equalise login timing.
const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$rl9KQ8jFv9Nnyi1P1DLTMQ$BQD+EEY+GvOKsXlPs8CckqFE5vJej41L+kn8aI+Dnyc';

export async function logout(db: Kysely<DB>, token: string): Promise<void> {
  await db.deleteFrom('sessions').where('token_hash', '=', hashToken(token)).execute();
}

export async function authenticateSession(
  db: Kysely<DB>,
  clock: Clock,
  token: string,
): Promise<Principal | null> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select(['users.id', 'users.account_id', 'users.role', 'users.is_platform_admin'])
    .where('sessions.token_hash', '=', hashToken(token))
    .where('sessions.expires_at', '>', clock.now())
    .executeTakeFirst();
  if (!row) return null;
  return {
    accountId: row.account_id,
    userId: row.id,
    role: row.role,
    isPlatformAdmin: row.is_platform_admin,
    via: 'session',
  };
}

export interface ApiTokenRow {
  id: number;
  name: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const tokenColumns = ['id', 'name', 'prefix', 'created_at', 'last_used_at', 'revoked_at'] as const;

/** Creates an API token; the plaintext is returned once and only its hash is stored. */
export async function createApiToken(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  options: { name?: string; token?: string } = {},
): Promise<{ token: string; row: ApiTokenRow }> {
  const token = options.token ?? generateToken(API_TOKEN_PREFIX);
  const row = await db
    .insertInto('api_tokens')
    .values({
      account_id: accountId,
      name: options.name ?? '',
      prefix: token.slice(0, API_TOKEN_PREFIX.length + 6),
      token_hash: hashToken(token),
      created_at: clock.now(),
    })
    .returning(tokenColumns)
    .executeTakeFirstOrThrow();
  return { token, row };
}

export async function listApiTokens(db: Kysely<DB>, accountId: number): Promise<ApiTokenRow[]> {
  return db
    .selectFrom('api_tokens')
    .select(tokenColumns)
    .where('account_id', '=', accountId)
    .orderBy('id')
    .execute();
}

export async function revokeApiToken(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
): Promise<void> {
  const result = await db
    .updateTable('api_tokens')
    .set({ revoked_at: clock.now() })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0)
    throw new AppError('not_found', 'API token not found', { field: 'id' });
}

export async function authenticateApiToken(
  db: Kysely<DB>,
  clock: Clock,
  token: string,
): Promise<Principal | null> {
  const row = await db
    .updateTable('api_tokens')
    .set({ last_used_at: clock.now() })
    .where('token_hash', '=', hashToken(token))
    .where('revoked_at', 'is', null)
    .returning(['account_id'])
    .executeTakeFirst();
  if (!row) return null;
  // An API token acts for its account with admin rights; it is never a platform admin.
  return { accountId: row.account_id, userId: null, role: 'admin', isPlatformAdmin: false, via: 'token' };
}
