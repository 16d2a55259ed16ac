import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SecretBox } from '../../accounts/secrets.ts';
import { insertMessage } from '../../chat/message-store.ts';
import type { DB } from '../../db/schema.ts';
import type { AppContext } from '../../http/context.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError, invalid, notFound } from '../../shared/errors.ts';
import { isCrmError } from '../crm/errors.ts';
import { contactAnswer } from '../crm/gravitel/index.ts';
import { MemoryTokenStore, type TokenSet } from '../crm/http.ts';
import { generateInboundToken } from '../crm/inbound.ts';
import {
  mergeSettingsUpdate,
  publicSettings,
  type SettingsShape,
  sealSettings,
  settingsFields,
  settingsForm,
} from '../crm/settings.ts';
import type { CrmConnector, CrmContext, CrmSystem, InboundEvent, InboundRequest } from '../crm/types.ts';
import { queueName } from './boss.ts';
import { applyCall, applyCallEvent, latestDialog, lookupCaller, openPhoneDialog } from './calls.ts';
import {
  connectorOf,
  type IntegrationRow,
  isCrmSystem,
  isDeliveryPaused,
  limitedHttp,
  loadIntegration,
  settingsAad,
  storedSettings,
  tokensAad,
} from './store.ts';

/** The cabinet's operations on a site's integrations (SPEC IN-0). Secrets never leave this module. */

export function requireSystem(system: string): CrmSystem {
  if (!isCrmSystem(system))
    throw new AppError('not_found', `Unknown CRM system ${system}`, { field: 'system' });
  return system;
}

async function requireSite(db: Kysely<DB>, accountId: number, siteId: number) {
  const site = await db
    .selectFrom('sites')
    .select(['id', 'account_id'])
    .where('id', '=', siteId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  if (!site) throw notFound('Site', 'siteId');
  return site;
}

export async function findIntegration(
  db: Kysely<DB>,
  accountId: number,
  siteId: number,
  system: string,
): Promise<IntegrationRow> {
  await requireSite(db, accountId, siteId);
  const row = await db
    .selectFrom('integrations')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('site_id', '=', siteId)
    .where('system', '=', requireSystem(system))
    .executeTakeFirst();
  if (!row) throw notFound('Integration', 'system');
  return row as IntegrationRow;
}

export interface IntegrationState {
  id: number;
  system: string;
  status: string;
  connected: boolean;
  account_name: string | null;
  settings: Record<string, unknown>;
  secrets_set: string[];
  inbound_url_path: string | null;
  last_success_at: string | null;
  last_error: Record<string, unknown> | null;
  last_error_at: string | null;
  /** Deliveries wait (events pending) until access is granted again or the settings are saved again. */
  delivery_paused: boolean;
  queue_depth: number;
  failed_count: number;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** Where a two-way CRM posts to this integration (routes.ts inboundRoutes); the token is unguessable. */
const inboundPath = (row: Pick<IntegrationRow, 'id' | 'inbound_token'>) =>
  `/api/v1/hooks/crm/${row.id}/${row.inbound_token}`;

/**
 * Connectors that register our inbound URL in the CRM themselves (Bitrix24's event.bind) declare a hidden
 * `inboundUrl` setting; it is this server's full address (PUBLIC_URL), or nothing without one.
 */
function withInboundUrl(
  ctx: AppContext,
  schema: SettingsShape,
  row: Pick<IntegrationRow, 'id' | 'inbound_token'> | undefined,
  settings: Record<string, unknown>,
): Record<string, unknown> {
  if (!('inboundUrl' in schema.shape)) return settings;
  const inboundUrl =
    row && ctx.publicUrl ? `${ctx.publicUrl.replace(/\/+$/, '')}${inboundPath(row)}` : undefined;
  return { ...settings, inboundUrl };
}

export async function integrationState(
  db: Kysely<DB>,
  box: SecretBox,
  row: IntegrationRow,
): Promise<IntegrationState> {
  const connector = connectorOf(row);
  let settings: Record<string, unknown> = row.settings;
  try {
    settings = storedSettings(row, box);
  } catch {
    // A row sealed with another key still shows its plain values.
  }
  const shown = publicSettings(connector.settingsSchema as unknown as SettingsShape, settings);
  const counts = await db
    .selectFrom('integration_events')
    .select((eb) => [
      eb.fn.countAll<number>().filterWhere('status', '=', 'pending').as('pending'),
      eb.fn.countAll<number>().filterWhere('status', '=', 'failed').as('failed'),
    ])
    .where('integration_id', '=', row.id)
    .where('status', 'in', ['pending', 'failed'])
    .executeTakeFirst();
  return {
    id: row.id,
    system: row.system,
    status: row.status,
    connected: row.status === 'connected',
    account_name: row.account_name,
    settings: shown.values,
    secrets_set: shown.secretsSet,
    inbound_url_path: connector.parseInbound ? inboundPath(row) : null,
    last_success_at: iso(row.last_success_at),
    last_error: row.last_error,
    last_error_at: iso(row.last_error_at),
    delivery_paused: isDeliveryPaused(row),
    queue_depth: Number(counts?.pending ?? 0),
    failed_count: Number(counts?.failed ?? 0),
  };
}

export async function listIntegrations(ctx: AppContext, accountId: number, siteId: number) {
  await requireSite(ctx.db, accountId, siteId);
  const rows = await ctx.db
    .selectFrom('integrations')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('site_id', '=', siteId)
    .orderBy('id')
    .execute();
  return Promise.all(rows.map((r) => integrationState(ctx.db, ctx.secrets, r as IntegrationRow)));
}

export function connectorInfo(system: CrmSystem, connector: CrmConnector<unknown>) {
  return {
    system,
    title: connector.title,
    creates: connector.creates,
    oauth: Boolean(connector.oauth),
    two_way: Boolean(connector.parseInbound),
    rate_limit: connector.rateLimit,
    form: settingsForm(connector.settingsSchema as unknown as SettingsShape),
  };
}

export interface ConfigureOptions {
  /** HTTP timeout of the test call. */
  timeoutMs?: number;
}

/**
 * PUT settings: merge with stored secrets (an empty secret keeps its value), validate with the schema,
 * let the connector turn passwords into tokens (prepareSettings), prove them with a real test call,
 * then store: plain values in clear, secrets and tokens sealed, transient fields dropped. Nothing is
 * stored when the test call fails. No transaction is held across the CRM calls.
 */
export async function configureIntegration(
  ctx: AppContext,
  accountId: number,
  siteId: number,
  system: string,
  input: Record<string, unknown>,
  options: ConfigureOptions = {},
): Promise<IntegrationState> {
  const crmSystem = requireSystem(system);
  await requireSite(ctx.db, accountId, siteId);
  const connector = connectorOf({ system: crmSystem });
  const schema = connector.settingsSchema as unknown as SettingsShape;
  const existing = await ctx.db
    .selectFrom('integrations')
    .selectAll()
    .where('site_id', '=', siteId)
    .where('system', '=', crmSystem)
    .executeTakeFirst();
  let stored: Record<string, unknown> = {};
  let tokens: TokenSet | null = null;
  if (existing) {
    const row = existing as IntegrationRow;
    try {
      stored = storedSettings(row, ctx.secrets);
    } catch {
      stored = row.settings;
    }
    if (row.tokens_sealed) tokens = JSON.parse(ctx.secrets.decrypt(row.tokens_sealed, tokensAad(row.id)));
  }
  const inboundToken = existing?.inbound_token ?? generateInboundToken();
  const merged = withInboundUrl(
    ctx,
    schema,
    existing as IntegrationRow | undefined,
    mergeSettingsUpdate(schema, stored, input),
  );
  // The OAuth redirect URL is ours: registered in the CRM's integration, it must be this server's.
  if ('redirectUri' in schema.shape && !merged.redirectUri) {
    if (!ctx.publicUrl)
      throw invalid('redirectUri', 'Set PUBLIC_URL (the address the CRM redirects to), or give redirectUri');
    merged.redirectUri = `${ctx.publicUrl.replace(/\/+$/, '')}/api/v1/integrations/oauth/${crmSystem}/callback`;
  }
  // Systems that authenticate us by a token in their webhook URL get this integration's URL token.
  if ('webhookToken' in schema.shape && !merged.webhookToken) merged.webhookToken = inboundToken;
  if ('crmToken' in schema.shape && !merged.crmToken) merged.crmToken = inboundToken;
  // Planfix's chat API: our key (entered in Planfix, sent back with every reply) and the provider id.
  if ('chatApiKey' in schema.shape && !merged.chatApiKey)
    merged.chatApiKey = stored.chatApiKey ?? inboundToken;
  if ('providerId' in schema.shape && !merged.providerId)
    merged.providerId = stored.providerId ?? `omnitalk-site-${siteId}`;
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('validation_failed', issue?.message ?? 'invalid settings', {
      field: issue?.path.map(String).join('.') || null,
    });
  }
  // Hidden fields the platform filled (OAuth results) survive a form save.
  let settings: Record<string, unknown> = { ...stored, ...(parsed.data as Record<string, unknown>) };
  const memory = new MemoryTokenStore(`configure:${siteId}:${crmSystem}:${crypto.randomUUID()}`, tokens);
  const crmCtx: CrmContext<unknown> = {
    settings,
    http: limitedHttp(undefined, ctx.clock, options.timeoutMs),
    tokens: memory,
    clock: ctx.clock,
  };
  let accountName: string | null = existing?.account_name ?? null;
  let status: 'pending' | 'connected' = 'pending';
  try {
    if (connector.prepareSettings) {
      settings = (await connector.prepareSettings(crmCtx)) as Record<string, unknown>;
      crmCtx.settings = settings;
    }
    // An OAuth CRM without tokens yet is saved as pending; the callback completes it.
    if (!connector.oauth || (await memory.load())) {
      accountName = (await connector.testConnection(crmCtx)).accountName;
      status = 'connected';
    }
  } catch (error) {
    if (isCrmError(error)) {
      throw new AppError('validation_failed', `Test call failed: ${error.message}`, {
        field: error.field ?? 'settings',
        cause: error,
      });
    }
    throw error;
  }
  const now = ctx.clock.now();
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = existing
      ? existing
      : await trx
          .insertInto('integrations')
          .values({
            account_id: accountId,
            site_id: siteId,
            system: crmSystem,
            settings: '{}',
            inbound_token: inboundToken,
            status: 'pending',
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
    const sealed = sealSettings(schema, settings, ctx.secrets, settingsAad(row.id));
    const finalTokens = await memory.load();
    await trx
      .updateTable('integrations')
      .set({
        settings: JSON.stringify(sealed.plain),
        settings_sealed: sealed.sealed,
        tokens_sealed: finalTokens
          ? ctx.secrets.encrypt(JSON.stringify(finalTokens), tokensAad(row.id))
          : null,
        status,
        account_name: accountName,
        ...(status === 'connected' ? { last_error: null, last_error_at: null } : {}),
        updated_at: now,
      })
      .where('id', '=', row.id)
      .execute();
    return row.id;
  });
  return integrationState(ctx.db, ctx.secrets, (await loadIntegration(ctx.db, id))!);
}

export async function deleteIntegration(db: Kysely<DB>, accountId: number, siteId: number, system: string) {
  const row = await findIntegration(db, accountId, siteId, system);
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('integrations').where('id', '=', row.id).execute();
    // Its queued drains go with it (the runner also drops the queue when it notices).
    await trx
      .deleteFrom('pgboss.job' as never)
      .where('name' as never, '=', queueName(row.id) as never)
      .execute()
      .catch(() => {});
  });
}

/** A context for cabinet calls (listing users) with the stored settings and tokens. */
export function cabinetContext(ctx: AppContext, row: IntegrationRow): CrmContext<unknown> {
  return {
    settings: storedSettings(row, ctx.secrets),
    http: limitedHttp(undefined, ctx.clock),
    tokens: new (class {
      readonly key = `integration:${row.id}`;
      async load() {
        const fresh = await loadIntegration(ctx.db, row.id);
        return fresh?.tokens_sealed
          ? (JSON.parse(ctx.secrets.decrypt(fresh.tokens_sealed, tokensAad(row.id))) as TokenSet)
          : null;
      }
      async save(tokens: TokenSet) {
        await ctx.db
          .updateTable('integrations')
          .set({ tokens_sealed: ctx.secrets.encrypt(JSON.stringify(tokens), tokensAad(row.id)) })
          .where('id', '=', row.id)
          .execute();
      }
    })(),
    clock: ctx.clock,
  };
}

export async function operatorMapping(ctx: AppContext, accountId: number, siteId: number, system: string) {
  const row = await findIntegration(ctx.db, accountId, siteId, system);
  const connector = connectorOf(row);
  let crmUsers: Awaited<ReturnType<typeof connector.listUsers>> = [];
  let crmError: Record<string, unknown> | null = null;
  try {
    crmUsers = await connector.listUsers(cabinetContext(ctx, row));
  } catch (error) {
    if (!isCrmError(error)) throw error;
    crmError = error.toJSON();
  }
  const operators = await ctx.db
    .selectFrom('users')
    .select(['id', 'name', 'email'])
    .where('account_id', '=', accountId)
    .orderBy('id')
    .execute();
  const mapping = await ctx.db
    .selectFrom('integration_operator_map')
    .select(['user_id', 'crm_user_id'])
    .where('integration_id', '=', row.id)
    .execute();
  return {
    crm_users: crmUsers,
    crm_error: crmError,
    operators,
    mapping: mapping.map((m) => ({ user_id: m.user_id, crm_user_id: m.crm_user_id })),
  };
}

export async function setOperatorMapping(
  ctx: AppContext,
  accountId: number,
  siteId: number,
  system: string,
  mapping: { user_id: number; crm_user_id: string }[],
) {
  const row = await findIntegration(ctx.db, accountId, siteId, system);
  const userIds = [...new Set(mapping.map((m) => m.user_id))];
  if (userIds.length !== mapping.length)
    throw new AppError('validation_failed', 'an operator is mapped twice', { field: 'mapping' });
  if (userIds.length) {
    const own = await ctx.db
      .selectFrom('users')
      .select('id')
      .where('account_id', '=', accountId)
      .where('id', 'in', userIds)
      .execute();
    if (own.length !== userIds.length) throw notFound('Operator', 'mapping');
  }
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('integration_operator_map').where('integration_id', '=', row.id).execute();
    if (mapping.length)
      await trx
        .insertInto('integration_operator_map')
        .values(
          mapping.map((m) => ({ integration_id: row.id, user_id: m.user_id, crm_user_id: m.crm_user_id })),
        )
        .execute();
  });
  return operatorMapping(ctx, accountId, siteId, system);
}

export async function failedEvents(db: Kysely<DB>, accountId: number, siteId: number, system: string) {
  const row = await findIntegration(db, accountId, siteId, system);
  const events = await db
    .selectFrom('integration_events')
    .select(['id', 'contact_id', 'kind', 'attempts', 'last_error', 'updated_at'])
    .where('integration_id', '=', row.id)
    .where('status', '=', 'failed')
    .orderBy('id')
    .limit(500)
    .execute();
  return events.map((e) => ({ ...e, updated_at: new Date(e.updated_at).toISOString() }));
}

/** Retry (back to pending; the runner's sweep enqueues a drain) or discard parked events. */
export async function resolveFailed(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  siteId: number,
  system: string,
  action: 'retry' | 'discard',
  ids: number[] | null,
): Promise<{ updated: number }> {
  const row = await findIntegration(db, accountId, siteId, system);
  let query = db
    .updateTable('integration_events')
    .set({ status: action === 'retry' ? 'pending' : 'discarded', updated_at: clock.now() })
    .where('integration_id', '=', row.id)
    .where('status', '=', 'failed');
  if (ids) query = query.where('id', 'in', ids.length ? ids : [0]);
  const result = await query.executeTakeFirst();
  return { updated: Number(result.numUpdatedRows) };
}

// ---------------------------------------------------------------------------------------------------
// OAuth (amoCRM, Bitrix24)

const STATE_TTL_MS = 30 * 60_000;
const STATE_AAD = 'crm-oauth-state';

/** The authorize redirect for a saved (pending) integration; `state` is sealed, so it cannot be forged. */
export async function oauthAuthorizeUrl(ctx: AppContext, accountId: number, siteId: number, system: string) {
  const row = await findIntegration(ctx.db, accountId, siteId, system);
  const connector = connectorOf(row);
  if (!connector.oauth)
    throw new AppError('not_found', `${connector.title.en} has no OAuth`, { field: 'system' });
  const state = Buffer.from(
    ctx.secrets.encrypt(
      JSON.stringify({ i: row.id, e: ctx.clock.now().getTime() + STATE_TTL_MS }),
      STATE_AAD,
    ),
  ).toString('base64url');
  return connector.oauth.authorizeUrl(storedSettings(row, ctx.secrets), state);
}

/** The redirect back from the CRM: exchanges the code, stores sealed tokens and marks the integration connected. */
export async function oauthCallback(
  ctx: AppContext,
  system: string,
  query: URLSearchParams,
): Promise<IntegrationState> {
  const crmSystem = requireSystem(system);
  let integrationId: number;
  try {
    const opened = JSON.parse(
      ctx.secrets.decrypt(Buffer.from(query.get('state') ?? '', 'base64url').toString('utf8'), STATE_AAD),
    ) as { i: number; e: number };
    if (opened.e < ctx.clock.now().getTime()) throw new Error('expired');
    integrationId = opened.i;
  } catch {
    throw new AppError('forbidden', 'Invalid or expired OAuth state', { field: 'state' });
  }
  const row = await loadIntegration(ctx.db, integrationId);
  if (!row || row.system !== crmSystem)
    throw new AppError('forbidden', 'Invalid OAuth state', { field: 'state' });
  const connector = connectorOf(row);
  if (!connector.oauth) throw new AppError('not_found', 'No OAuth for this system');
  const memory = new MemoryTokenStore(`oauth:${row.id}:${crypto.randomUUID()}`);
  const crmCtx: CrmContext<unknown> = {
    settings: withInboundUrl(
      ctx,
      connector.settingsSchema as unknown as SettingsShape,
      row,
      storedSettings(row, ctx.secrets),
    ),
    http: limitedHttp(undefined, ctx.clock),
    tokens: memory,
    clock: ctx.clock,
  };
  let settings: Record<string, unknown>;
  let accountName: string | null = row.account_name;
  try {
    settings = (await connector.oauth.exchangeCode(crmCtx, query)) as Record<string, unknown>;
    crmCtx.settings = settings;
    accountName = (await connector.testConnection(crmCtx)).accountName;
  } catch (error) {
    if (isCrmError(error))
      throw new AppError('validation_failed', `Authorisation failed: ${error.message}`, { field: 'code' });
    throw error;
  }
  const tokens = await memory.load();
  const sealed = sealSettings(
    connector.settingsSchema as unknown as SettingsShape,
    settings,
    ctx.secrets,
    settingsAad(row.id),
  );
  await ctx.db
    .updateTable('integrations')
    .set({
      settings: JSON.stringify(sealed.plain),
      settings_sealed: sealed.sealed,
      tokens_sealed: tokens ? ctx.secrets.encrypt(JSON.stringify(tokens), tokensAad(row.id)) : null,
      status: 'connected',
      account_name: accountName,
      last_error: null,
      last_error_at: null,
      updated_at: ctx.clock.now(),
    })
    .where('id', '=', row.id)
    .execute();
  return integrationState(ctx.db, ctx.secrets, (await loadIntegration(ctx.db, row.id))!);
}

// ---------------------------------------------------------------------------------------------------
// Inbound (Omnidesk, Planfix, Bitrix24, Gravitel)

export type InboundAnswer = { status: number; contentType: string; body: string };

/**
 * A request from a CRM. The connector authenticates it (URL token, shared key, application token);
 * anything it rejects is answered without touching the database. Staff replies are written into the
 * dialog as operator messages (author = the mapped operator), once per external message id.
 */
export async function handleInbound(
  ctx: AppContext,
  integrationId: number,
  request: InboundRequest,
): Promise<InboundAnswer> {
  const row = Number.isSafeInteger(integrationId) ? await loadIntegration(ctx.db, integrationId) : null;
  const connector = row ? connectorOf(row) : null;
  if (!row || !connector?.parseInbound)
    return { status: 404, contentType: 'application/json', body: '{"error":"not found"}' };
  const crmCtx = cabinetContext(ctx, row);
  const result = await connector.parseInbound(crmCtx, request);
  if (!result.ok) {
    ctx.logger.warn({ integrationId, reason: result.reason }, 'inbound CRM request rejected');
    return {
      status: result.status,
      contentType: 'application/json',
      body: JSON.stringify({ error: result.reason }),
    };
  }
  let reply = result.reply;
  for (const event of result.events) {
    if (event.type === 'settings_learned') {
      await saveLearnedSettings(ctx, row, event.settings);
      continue;
    }
    if (event.type === 'contact_lookup') {
      // Gravitel asks whom a caller is before routing the call: the name to show, the employee to ring.
      const caller = await lookupCaller(ctx, row, event.phone);
      const answer = contactAnswer(caller.name, caller.responsible);
      if (answer.ok) reply = answer.reply;
      continue;
    }
    if (event.type === 'staff_message') {
      const filed = await applyStaffMessage(ctx, row, connector, crmCtx, event);
      if (filed?.contactId && connector.inboundReply)
        reply = connector.inboundReply({ ref: event.conversationRef, contactId: filed.contactId });
      continue;
    }
    await applyInbound(ctx, row, event);
  }
  return reply;
}

/**
 * Hidden settings a connector learnt from a request it verified (Bitrix24's application_token), merged into
 * the stored settings under the row's lock. Only hidden fields: nothing the admin typed is overwritten.
 */
async function saveLearnedSettings(
  ctx: AppContext,
  row: IntegrationRow,
  learned: Record<string, unknown>,
): Promise<void> {
  const schema = connectorOf(row).settingsSchema as unknown as SettingsShape;
  const allowed = Object.entries(learned).filter(([key]) => {
    const field = schema.shape[key];
    return field !== undefined && settingsFields.get(field as never)?.hidden === true;
  });
  if (allowed.length === 0) return;
  await ctx.db.transaction().execute(async (trx) => {
    const fresh = await trx
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', row.id)
      .forUpdate()
      .executeTakeFirst();
    if (!fresh) return;
    const settings = schema.parse({
      ...storedSettings(fresh as IntegrationRow, ctx.secrets),
      ...Object.fromEntries(allowed),
    }) as Record<string, unknown>;
    const sealed = sealSettings(schema, settings, ctx.secrets, settingsAad(row.id));
    await trx
      .updateTable('integrations')
      .set({
        settings: JSON.stringify(sealed.plain),
        settings_sealed: sealed.sealed,
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', row.id)
      .execute();
  });
}

async function operatorFor(
  db: Kysely<DB>,
  integrationId: number,
  crmUserId: string | null,
): Promise<number | null> {
  if (!crmUserId) return null;
  const row = await db
    .selectFrom('integration_operator_map')
    .select('user_id')
    .where('integration_id', '=', integrationId)
    .where('crm_user_id', '=', crmUserId)
    .executeTakeFirst();
  return row?.user_id ?? null;
}

/** Our dialog for a conversation ref the CRM echoes back: a dialog id, or a contact id (its latest dialog). */
async function dialogFor(db: Kysely<DB>, row: IntegrationRow, ref: string) {
  const id = Number(ref.replace(/^(dialog|contact)[-:]/, ''));
  if (!Number.isSafeInteger(id) || id <= 0) return null;
  const base = db
    .selectFrom('dialogs')
    .select(['id', 'account_id', 'site_id', 'contact_id'])
    .where('account_id', '=', row.account_id)
    .where('site_id', '=', row.site_id);
  // Connectors push our contact id as the CRM's external id (Omnidesk custom_user_id, Planfix contactId),
  // so that is what comes back: the contact's latest dialog on this site. "dialog-<id>" names a dialog.
  if (!ref.startsWith('dialog')) {
    const dialog = await base.where('contact_id', '=', id).orderBy('id', 'desc').limit(1).executeTakeFirst();
    if (dialog || ref.startsWith('contact')) return dialog ?? null;
  }
  return (await base.where('id', '=', id).executeTakeFirst()) ?? null;
}

/**
 * The conversation of a staff message: a `phone:+7…` ref (a chat the CRM started from a contact's phone,
 * Planfix) is the contact's latest dialog on the site, or a new `phone` dialog with the contact captured,
 * as a PBX call opens one; any other ref is what dialogFor reads.
 */
async function conversationDialog(
  trx: Kysely<DB>,
  ctx: AppContext,
  row: IntegrationRow,
  ref: string,
  operatorId: number | null,
): Promise<{ id: number; contact_id: number | null } | null> {
  const byPhone = /^phone:(\+\d{7,15})$/.exec(ref);
  if (!byPhone) return (await dialogFor(trx, row, ref)) ?? null;
  const phone = byPhone[1]!;
  return (
    (await latestDialog(trx, row, phone)) ?? (await openPhoneDialog(trx, ctx.clock, row, phone, operatorId))
  );
}

const personName = (name: string | null | undefined) =>
  (name ?? '').normalize('NFC').replace(/ё/gi, 'е').replace(/\s+/g, ' ').trim().toLowerCase();

/**
 * The operator a staff message is from: the one mapped to the CRM user id, or, when the CRM names the
 * author instead (Planfix sends `userName`/`userLastName`), to the only CRM user of that name. Names are
 * read from the CRM's user list only when the integration has a mapping at all.
 */
async function staffOperator(
  ctx: AppContext,
  row: IntegrationRow,
  connector: CrmConnector<unknown>,
  crmCtx: CrmContext<unknown>,
  event: Extract<InboundEvent, { type: 'staff_message' }>,
): Promise<number | null> {
  if (event.crmUserId) return operatorFor(ctx.db, row.id, event.crmUserId);
  const name = personName(event.crmUserName);
  if (!name) return null;
  const mapping = await ctx.db
    .selectFrom('integration_operator_map')
    .select(['user_id', 'crm_user_id'])
    .where('integration_id', '=', row.id)
    .execute();
  if (mapping.length === 0) return null;
  let users: Awaited<ReturnType<typeof connector.listUsers>>;
  try {
    users = await connector.listUsers(crmCtx);
  } catch (error) {
    if (!isCrmError(error)) throw error;
    ctx.logger.warn({ integrationId: row.id, error: error.toJSON() }, 'CRM users unavailable for a reply');
    return null;
  }
  const named = new Set(users.filter((u) => personName(u.name) === name).map((u) => u.id));
  const mapped = mapping.filter((m) => named.has(m.crm_user_id));
  return mapped.length === 1 ? mapped[0]!.user_id : null;
}

/**
 * A staff reply into the chat, once per external message id: from the mapped operator, or, with no
 * operator mapped, an operator message whose text starts with the author's name (the chat keeps no
 * sender name besides the operator). Returns the dialog it is filed under.
 */
async function applyStaffMessage(
  ctx: AppContext,
  row: IntegrationRow,
  connector: CrmConnector<unknown>,
  crmCtx: CrmContext<unknown>,
  event: Extract<InboundEvent, { type: 'staff_message' }>,
): Promise<{ id: number; contactId: number | null } | null> {
  const operatorId = await staffOperator(ctx, row, connector, crmCtx, event);
  const author = operatorId === null ? event.crmUserName?.trim() : null;
  const text = (author ? `${author}: ${event.text}` : event.text).slice(0, 5000);
  const sourceKey = event.externalMessageId ? `crm:${row.id}:${event.externalMessageId}` : null;
  const filed = await ctx.db.transaction().execute(async (trx) => {
    // The same external message twice (a CRM's redelivery) is stored once.
    const stored = sourceKey
      ? await trx
          .selectFrom('chat_messages as m')
          .innerJoin('dialogs as d', 'd.id', 'm.dialog_id')
          .select(['d.id', 'd.contact_id'])
          .where('m.source_key', '=', sourceKey)
          .executeTakeFirst()
      : undefined;
    if (stored) return stored;
    const dialog = await conversationDialog(trx, ctx, row, event.conversationRef, operatorId);
    if (!dialog) return null;
    await insertMessage(trx, ctx.clock, {
      accountId: row.account_id,
      siteId: row.site_id,
      dialogId: dialog.id,
      author: 'operator',
      operatorId,
      text,
      sourceKey,
    });
    return dialog;
  });
  if (!filed) ctx.logger.warn({ integrationId: row.id }, 'inbound staff message for an unknown conversation');
  return filed && { id: filed.id, contactId: filed.contact_id };
}

async function applyInbound(ctx: AppContext, row: IntegrationRow, event: InboundEvent): Promise<void> {
  if (event.type === 'call' || event.type === 'call_event') {
    const operatorId = await operatorFor(ctx.db, row.id, event.crmUserId);
    if (event.type === 'call') await applyCall(ctx, row, event, operatorId);
    else await applyCallEvent(ctx, row, event, operatorId);
    return;
  }
  ctx.logger.info({ integrationId: row.id, type: event.type }, 'inbound CRM event');
}
