import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid, notFound } from '../shared/errors.ts';

/** Sites (CH-1): one chat widget install each, with a public key for the embed snippet. */

export interface Site {
  id: number;
  name: string;
  public_key: string;
  allowed_origins: string[];
  settings: Record<string, unknown>;
  mailing_replies: boolean;
  operator_ids: number[];
  created_at: Date;
  updated_at: Date;
}

export interface SiteInput {
  name?: string;
  allowed_origins?: string[];
  settings?: Record<string, unknown>;
  mailing_replies?: boolean;
  operator_ids?: number[];
}

/** Where the widget script is served (the widget is built separately on top of the SDK). */
export const WIDGET_SCRIPT_PATH = '/widget/v1/widget.js';
const SETTINGS_MAX_BYTES = 16 * 1024;

export const generateSiteKey = () => `st_${crypto.randomBytes(18).toString('base64url')}`;

const siteColumns = [
  'id',
  'name',
  'public_key',
  'allowed_origins',
  'settings',
  'mailing_replies',
  'created_at',
  'updated_at',
] as const;

/**
 * An allowed origin is a scheme and host (and port) as a browser sends it in `Origin`, optionally with
 * a leading "*." to allow every subdomain: "https://shop.example", "https://*.example.com".
 */
export function normalizeOrigin(raw: string): string {
  const text = raw.trim().toLowerCase().replace(/\/+$/, '');
  const wildcard = /^(https?):\/\/\*\.(.+)$/.exec(text);
  const probe = wildcard ? `${wildcard[1]}://wildcard.${wildcard[2]}` : text;
  let url: URL;
  try {
    url = new URL(probe);
  } catch {
    throw invalid('allowed_origins', `"${raw}" is not an origin like https://shop.example`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== probe) {
    throw invalid('allowed_origins', `"${raw}" is not an origin like https://shop.example (no path)`);
  }
  return text;
}

/** Whether a browser page of `origin` may open the site's visitor socket. No Origin: not a browser. */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (allowed.length === 0 || !origin) return true;
  const o = origin.toLowerCase();
  return allowed.some((rule) => {
    const wildcard = /^(https?):\/\/\*\.(.+)$/.exec(rule);
    if (!wildcard) return rule === o;
    const [, scheme, host] = wildcard;
    return o.startsWith(`${scheme}://`) && o.endsWith(`.${host}`);
  });
}

export function embedSnippet(publicKey: string, baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `<script async src="${base}${WIDGET_SCRIPT_PATH}" data-omnitalk-site="${publicKey}"></script>`;
}

function checkSettings(settings: Record<string, unknown> | undefined): string | undefined {
  if (settings === undefined) return undefined;
  const json = JSON.stringify(settings);
  if (Buffer.byteLength(json) > SETTINGS_MAX_BYTES)
    throw invalid('settings', `settings must be at most ${SETTINGS_MAX_BYTES} bytes of JSON`);
  return json;
}

async function checkOperators(db: Kysely<DB>, accountId: number, ids: number[]): Promise<number[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const found = await db
    .selectFrom('users')
    .select('id')
    .where('account_id', '=', accountId)
    .where('id', 'in', unique)
    .execute();
  const ok = new Set(found.map((u) => u.id));
  const missing = unique.find((id) => !ok.has(id));
  if (missing !== undefined) throw notFound(`User ${missing}`, 'operator_ids');
  return unique.sort((a, b) => a - b);
}

async function writeOperators(db: Kysely<DB>, siteId: number, ids: number[]): Promise<void> {
  await db.deleteFrom('site_operators').where('site_id', '=', siteId).execute();
  if (ids.length > 0)
    await db
      .insertInto('site_operators')
      .values(ids.map((user_id) => ({ site_id: siteId, user_id })))
      .execute();
}

/** Only one site of an account receives dialogs opened by mailing replies. */
async function takeMailingReplies(db: Kysely<DB>, accountId: number, siteId: number): Promise<void> {
  await db
    .updateTable('sites')
    .set({ mailing_replies: false })
    .where('account_id', '=', accountId)
    .where('id', '<>', siteId)
    .where('mailing_replies', '=', true)
    .execute();
}

export async function createSite(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: SiteInput & { name: string },
): Promise<Site> {
  const name = input.name.trim();
  if (!name) throw invalid('name', 'Site name must not be empty');
  const origins = [...new Set((input.allowed_origins ?? []).map(normalizeOrigin))];
  const settings = checkSettings(input.settings) ?? '{}';
  const id = await inTransaction(db, async (trx) => {
    const operators = await checkOperators(trx, accountId, input.operator_ids ?? []);
    const now = clock.now();
    const row = await trx
      .insertInto('sites')
      .values({
        account_id: accountId,
        name,
        public_key: generateSiteKey(),
        allowed_origins: origins,
        settings,
        mailing_replies: false,
        created_at: now,
        updated_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await writeOperators(trx, row.id, operators);
    if (input.mailing_replies) {
      await takeMailingReplies(trx, accountId, row.id);
      await trx.updateTable('sites').set({ mailing_replies: true }).where('id', '=', row.id).execute();
    }
    return row.id;
  });
  return getSite(db, accountId, id);
}

export async function listSites(db: Kysely<DB>, accountId: number): Promise<Site[]> {
  const rows = await db
    .selectFrom('sites')
    .select(siteColumns)
    .where('account_id', '=', accountId)
    .orderBy('id')
    .execute();
  const operators = await db
    .selectFrom('site_operators')
    .innerJoin('sites', 'sites.id', 'site_operators.site_id')
    .select(['site_operators.site_id', 'site_operators.user_id'])
    .where('sites.account_id', '=', accountId)
    .orderBy('site_operators.user_id')
    .execute();
  return rows.map((r) => ({
    ...r,
    operator_ids: operators.filter((o) => o.site_id === r.id).map((o) => o.user_id),
  }));
}

export async function getSite(db: Kysely<DB>, accountId: number, id: number): Promise<Site> {
  const row = await db
    .selectFrom('sites')
    .select(siteColumns)
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('Site', 'id');
  const operators = await db
    .selectFrom('site_operators')
    .select('user_id')
    .where('site_id', '=', id)
    .orderBy('user_id')
    .execute();
  return { ...row, operator_ids: operators.map((o) => o.user_id) };
}

export async function updateSite(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
  patch: SiteInput,
): Promise<Site> {
  const name = patch.name?.trim();
  if (patch.name !== undefined && !name) throw invalid('name', 'Site name must not be empty');
  const origins =
    patch.allowed_origins === undefined
      ? undefined
      : [...new Set(patch.allowed_origins.map(normalizeOrigin))];
  const settings = checkSettings(patch.settings);
  await inTransaction(db, async (trx) => {
    const site = await trx
      .selectFrom('sites')
      .select('id')
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!site) throw notFound('Site', 'id');
    if (patch.operator_ids !== undefined)
      await writeOperators(trx, id, await checkOperators(trx, accountId, patch.operator_ids));
    if (patch.mailing_replies) await takeMailingReplies(trx, accountId, id);
    await trx
      .updateTable('sites')
      .set({
        ...(name !== undefined && { name }),
        ...(origins !== undefined && { allowed_origins: origins }),
        ...(settings !== undefined && { settings }),
        ...(patch.mailing_replies !== undefined && { mailing_replies: patch.mailing_replies }),
        updated_at: clock.now(),
      })
      .where('id', '=', id)
      .execute();
  });
  return getSite(db, accountId, id);
}

/** Issues a new public key; the old snippet stops working (e.g. after the key was abused elsewhere). */
export async function rotateSiteKey(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
): Promise<Site> {
  const result = await db
    .updateTable('sites')
    .set({ public_key: generateSiteKey(), updated_at: clock.now() })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw notFound('Site', 'id');
  return getSite(db, accountId, id);
}

/** Deletes a site with its visitors, dialogs and messages. */
export async function deleteSite(db: Kysely<DB>, accountId: number, id: number): Promise<void> {
  const result = await db
    .deleteFrom('sites')
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw notFound('Site', 'id');
}

export interface PublicSite {
  id: number;
  account_id: number;
  name: string;
  allowed_origins: string[];
  settings: Record<string, unknown>;
}

export async function siteByPublicKey(db: Kysely<DB>, key: string): Promise<PublicSite> {
  const site = /^st_[A-Za-z0-9_-]{16,64}$/.test(key)
    ? await db
        .selectFrom('sites')
        .select(['id', 'account_id', 'name', 'allowed_origins', 'settings'])
        .where('public_key', '=', key)
        .executeTakeFirst()
    : undefined;
  if (!site) throw new AppError('not_found', 'Unknown site key', { field: 'site_key' });
  return site;
}
