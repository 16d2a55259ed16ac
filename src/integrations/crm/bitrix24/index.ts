import { displayName, isPlaceholderName, missingValues, splitName } from '../contact.ts';
import { CrmError, isCrmError, notConfigured } from '../errors.ts';
import { accepted, rejected, sameSecret, str } from '../inbound.ts';
import type { CrmConnector, CrmRef, CrmUser, InboundEvent, InboundResult } from '../types.ts';
import { type BitrixEvent, readBitrixEvent, staffMessages } from './events.ts';
import {
  CONNECTOR_ID,
  confirmOpenLinesDelivery,
  connectOpenLines,
  sendOpenLinesMessages,
} from './open-lines.ts';
import { baseUrl, type Ctx, exchangeCode, rest, restWithToken } from './rest.ts';
import { type Bitrix24Settings, bitrix24Settings } from './settings.ts';

export { type Bitrix24Settings, bitrix24Settings };

/**
 * IN-5 Bitrix24 REST (crm-apis.md §2). Two ways in: an inbound webhook URL the admin copies
 * (`https://{portal}/rest/{user}/{code}/`), or a local/market application with OAuth 2.0 (tokens from
 * oauth.bitrix24.tech, an hour each, refreshed with a 180-day refresh token). Creates a lead
 * (`crm.lead.add`), finds duplicates with `crm.duplicate.findbycomm`, saves dialogs as timeline
 * comments; the responsible user is the manager mapped to the operator. Optional Open Lines two-way
 * (application only, open-lines.ts): visitors' messages go to the line, operators' replies arrive as
 * ONIMCONNECTORMESSAGEADD events and are confirmed as delivered.
 */

/**
 * An event whose application_token we do not know yet is believed only when its own `auth` proves it:
 * the access token works against our portal (app.info, in the application's context) and the portal's
 * member_id is the one our OAuth grant named. That is how the docs say to learn the token from OnAppInstall
 * (api-reference/events/safe-event-handlers.md); any first event of the app carries the same `auth`
 * (_includes/auth-params-in-events.md), so a connector bound after installation learns it too.
 */
async function verifiedEventAuth(ctx: Ctx, auth: Record<string, unknown>): Promise<boolean> {
  const accessToken = str(auth.access_token);
  const memberId = str(auth.member_id);
  if (!accessToken || !memberId) return false;
  const granted = await ctx.tokens.load().catch(() => null);
  if (!granted?.extra?.member_id || !sameSecret(memberId, granted.extra.member_id)) return false;
  try {
    const info = await restWithToken<{ result?: unknown }>(ctx, 'app.info', {}, accessToken);
    return Boolean(info.result && typeof info.result === 'object');
  } catch (error) {
    if (isCrmError(error)) return false;
    throw error;
  }
}

/** An event on our URL: its application_token checked (or learnt), then our line's operator replies. */
async function parseEvent(ctx: Ctx, event: BitrixEvent): Promise<InboundResult> {
  const given = str(event.auth.application_token);
  const stored = ctx.settings.applicationToken;
  const events: InboundEvent[] = [];
  if (!sameSecret(given, stored)) {
    // A known token that differs is refused, except on a reinstall (a new installation, a new token).
    if (stored && event.name !== 'ONAPPINSTALL') return rejected(401, 'application_token does not match');
    if (!given || !(await verifiedEventAuth(ctx, event.auth)))
      return rejected(403, 'application_token unknown and the event auth could not be verified');
    events.push({ type: 'settings_learned', settings: { applicationToken: given } });
  }
  const { openLines, openLinesLine } = ctx.settings;
  const messages = openLines && openLinesLine ? staffMessages(event, CONNECTOR_ID, openLinesLine) : [];
  events.push(
    ...(messages.length
      ? messages
      : [{ type: 'ignored' as const, reason: `event ${event.name || '(none)'}` }]),
  );
  return accepted(events, { contentType: 'text/plain; charset=utf-8', body: 'OK' });
}

interface BitrixMulti {
  ID?: string;
  VALUE?: string;
  VALUE_TYPE?: string;
}
interface BitrixEntity {
  ID: string;
  NAME?: string;
  PHONE?: BitrixMulti[];
  EMAIL?: BitrixMulti[];
}

const entityMethod = (ref: CrmRef) => (ref.kind === 'contact' ? 'crm.contact' : 'crm.lead');
const multi = (values: string[]) => values.map((VALUE) => ({ VALUE, VALUE_TYPE: 'WORK' }));

export const bitrix24 = {
  id: 'bitrix24',
  title: { ru: 'Битрикс24', en: 'Bitrix24' },
  creates: { ru: 'Лид, диалоги в ленте лида', en: 'Lead, dialogs on its timeline' },
  settingsSchema: bitrix24Settings,
  rateLimit: {
    requestsPerSecond: 2,
    burst: 50,
    source: 'crm-apis.md §2: leaky bucket of 50 draining 2 req/s per portal (Enterprise 250 / 5 req/s)',
  },
  baseUrl,

  oauth: {
    authorizeUrl(settings, state) {
      const url = new URL(`https://${settings.portal}/oauth/authorize/`);
      url.searchParams.set('client_id', settings.clientId ?? '');
      url.searchParams.set('state', state);
      return url.toString();
    },
    async exchangeCode(ctx, redirect) {
      const code = redirect.get('code');
      if (!code) throw notConfigured('Bitrix24 redirect has no code', 'code');
      const tokens = await exchangeCode(ctx, code);
      await ctx.tokens.save(tokens);
      // The portal named by the authorisation server, not by the (forgeable) redirect.
      const endpoint = tokens.extra?.client_endpoint;
      const portal = endpoint ? new URL(endpoint).host : ctx.settings.portal;
      // A new grant may follow a reinstall, which gives the app a new application_token: learn it again
      // from the next verified event.
      return { ...ctx.settings, portal, applicationToken: undefined };
    },
  },

  async testConnection(ctx) {
    // crm.lead.fields needs the crm scope the connector works with.
    await rest(ctx, 'crm.lead.fields', {}, 'read');
    // Connecting with Open Lines on also (re)registers the connector on the line and binds our event URL.
    if (ctx.settings.openLines) await connectOpenLines(ctx);
    return { accountName: ctx.settings.portal };
  },

  async findContact(ctx, lookup) {
    const searches: [string, string[]][] = [
      ['PHONE', lookup.phones],
      ['EMAIL', lookup.emails],
    ];
    for (const entity of ['LEAD', 'CONTACT'] as const) {
      for (const [type, values] of searches) {
        if (values.length === 0) continue;
        // Bitrix matches phones format-insensitively (b24 crm-duplicate-find-by-comm.md); POST, not GET
        // with a body (b24-rest-docs #223). At most 20 values per call.
        const body = await rest<{ result?: Record<string, number[]> | [] }>(
          ctx,
          'crm.duplicate.findbycomm',
          { entity_type: entity, type, values: values.slice(0, 20) },
          'read',
        );
        const ids = Array.isArray(body.result) ? [] : (body.result?.[entity] ?? []);
        if (ids.length > 0) {
          return {
            kind: entity === 'LEAD' ? 'lead' : 'contact',
            id: String(Math.min(...ids.map(Number))),
          } satisfies CrmRef;
        }
      }
    }
    return null;
  },

  async createEntity(ctx, contact, options) {
    const { firstName, lastName } = splitName(contact.name);
    const fields: Record<string, unknown> = {
      TITLE: `Онлайн-чат: ${displayName(contact)}`,
      ...(contact.name ? { NAME: firstName, LAST_NAME: lastName } : {}),
      ...(contact.phones.length ? { PHONE: multi(contact.phones) } : {}),
      ...(contact.emails.length ? { EMAIL: multi(contact.emails) } : {}),
      ...(options.responsibleUserId ? { ASSIGNED_BY_ID: Number(options.responsibleUserId) } : {}),
      SOURCE_ID: 'WEB',
      SOURCE_DESCRIPTION: contact.siteName ? `Онлайн-чат ${contact.siteName}` : 'Онлайн-чат',
      STATUS_ID: 'NEW',
      OPENED: 'Y',
      ORIGINATOR_ID: 'omnitalk',
      ORIGIN_ID: contact.contactId,
      ...(contact.comment ? { COMMENTS: contact.comment } : {}),
    };
    const body = await rest<{ result?: unknown }>(
      ctx,
      'crm.lead.add',
      { fields, params: { REGISTER_SONET_EVENT: 'Y' } },
      'create',
    );
    if (typeof body.result !== 'number' && typeof body.result !== 'string') {
      throw new CrmError('Bitrix24: crm.lead.add answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    }
    return { kind: 'lead', id: String(body.result) };
  },

  async updateEntity(ctx, ref, contact) {
    const method = entityMethod(ref);
    const { result: current } = await rest<{ result?: BitrixEntity }>(
      ctx,
      `${method}.get`,
      { id: Number(ref.id) },
      'read',
    );
    if (!current)
      throw new CrmError(`Bitrix24: ${ref.kind} ${ref.id} not found`, {
        kind: 'permanent',
        reason: 'not_found',
      });
    const missing = missingValues(contact, {
      phones: (current.PHONE ?? []).map((m) => m.VALUE),
      emails: (current.EMAIL ?? []).map((m) => m.VALUE),
    });
    // Multi-field values sent without an ID are added; existing ones stay untouched.
    const fields: Record<string, unknown> = {};
    if (missing.phones.length) fields.PHONE = multi(missing.phones);
    if (missing.emails.length) fields.EMAIL = multi(missing.emails);
    if (
      contact.name &&
      isPlaceholderName(current.NAME, contact) &&
      current.NAME !== splitName(contact.name).firstName
    ) {
      const { firstName, lastName } = splitName(contact.name);
      Object.assign(fields, { NAME: firstName, LAST_NAME: lastName });
    }
    if (Object.keys(fields).length === 0) return;
    await rest(ctx, `${method}.update`, { id: Number(ref.id), fields }, 'write');
  },

  async attachNote(ctx, ref, note) {
    await rest(
      ctx,
      'crm.timeline.comment.add',
      {
        fields: {
          ENTITY_ID: Number(ref.id),
          ENTITY_TYPE: ref.kind === 'contact' ? 'contact' : 'lead',
          COMMENT: note.text,
        },
      },
      'create',
    );
    return ref;
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    let start: number | undefined = 0;
    for (let page = 0; page < 100 && start !== undefined; page++) {
      const body: {
        result?: { ID: string; NAME?: string; LAST_NAME?: string; EMAIL?: string; ACTIVE?: boolean }[];
        next?: number;
      } = await rest(ctx, 'user.get', { start }, 'read');
      for (const u of body.result ?? []) {
        users.push({
          id: String(u.ID),
          name: [u.NAME, u.LAST_NAME].filter(Boolean).join(' '),
          email: u.EMAIL || null,
          active: u.ACTIVE !== false,
        });
      }
      start = typeof body.next === 'number' ? body.next : undefined;
    }
    return users;
  },

  async parseInbound(ctx, request): Promise<InboundResult> {
    const read = readBitrixEvent(request, ctx.settings.webhookToken);
    if (read.kind === 'rejected') return read.result;
    if (read.kind === 'placement') {
      // The connector's settings slider: the line is chosen in our cabinet, not here.
      return accepted([{ type: 'ignored', reason: 'placement' }], {
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><meta charset="utf-8"><p>omnitalk: открытая линия настраивается в кабинете omnitalk.</p>',
      });
    }
    return parseEvent(ctx, read.event);
  },

  chatRelay: {
    enabled: (settings) => settings.openLines && settings.openLinesLine !== undefined,
    send: sendOpenLinesMessages,
    confirmDelivered: confirmOpenLinesDelivery,
  },
} satisfies CrmConnector<Bitrix24Settings>;
