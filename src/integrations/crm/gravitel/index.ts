import { z } from 'zod';
import { phoneKey } from '../contact.ts';
import { CrmError, notSupported } from '../errors.ts';
import type { HttpResponse, VendorError } from '../http.ts';
import { accepted, readBody, rejected, sameSecret, str } from '../inbound.ts';
import { apiBaseUrlField, field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmUser, InboundEvent, InboundResult } from '../types.ts';

/**
 * IN-11 Gravitel cloud PBX, "REST API for CRM" (crm-apis.md §11). Here we are the CRM: Gravitel POSTs
 * `cmd=history` after every call (saved into the contact's chat), `cmd=event` while a call rings (the
 * mapped operator is notified personally) and `cmd=contact` before routing an incoming call, each with
 * the `crm_token` the admin entered in the Gravitel dashboard. We call
 * `https://{domain}.gravitel.ru/sys/crm_api.wcgp` with `cmd` and `token`: `accounts` (employees for the
 * operator mapping) and `makeCall` (the call widget's call-back). There are no contact records to push.
 *
 * From ryzhak/gravitel beyond crm-apis.md: the URL shape and form-encoded POSTs with `cmd` + `token`
 * (GravitelModule.php: makeRequest), `accounts` answering `[{email, ext, name, realName}]` and
 * `makeCall(phone, user)` an empty body (README.md), notification samples (`start` "YYYYmmddTHHMMSSZ",
 * `phone` "79101234567", `callid`), the receiver answering 401 for a wrong `crm_token` and 400 for an
 * unknown `cmd` (controllers/ReceiveController.php, models/InputRequest.php), and the `contact` answer
 * `{"contact_name", "responsible"}`. The status values beyond Success/missed/Busy/NotAvailable/NotAllowed
 * and the PBX API's error answers are UNCONFIRMED.
 */

export const gravitelSettings = z.object({
  domain: field(hostInput(), {
    label: { ru: 'Домен', en: 'Domain' },
    help: {
      ru: 'Аккаунт Gravitel: company или company.gravitel.ru',
      en: 'Gravitel account: company or company.gravitel.ru',
    },
  }),
  token: field(z.string().trim().min(1), {
    label: { ru: 'Ключ', en: 'Key' },
    help: { ru: 'Ключ для авторизации в Облачной АТС', en: 'The cloud PBX authorisation key' },
    secret: true,
  }),
  // Ours, not the PBX's: generated with the integration (the same value as its inbound URL token, which
  // the admin sees anyway) and shown to be entered in the Gravitel dashboard as the CRM key.
  crmToken: field(z.string().min(20), {
    label: { ru: 'Ключ для уведомлений (crm_token)', en: 'Notification key (crm_token)' },
    hidden: true,
  }),
  apiBaseUrl: apiBaseUrlField,
});
export type GravitelSettings = z.infer<typeof gravitelSettings>;
type Ctx = CrmContext<GravitelSettings>;

function baseUrl(settings: GravitelSettings): string {
  if (settings.apiBaseUrl) return settings.apiBaseUrl;
  return `https://${settings.domain.includes('.') ? settings.domain : `${settings.domain}.gravitel.ru`}`;
}

function gravitelError(response: HttpResponse): VendorError | null {
  const text = response.text.trim().slice(0, 200);
  if (/token/i.test(text))
    return { message: text, kind: 'permanent', reason: 'unauthorized', field: 'token' };
  return text ? { message: text } : null;
}

async function command(
  ctx: Ctx,
  cmd: string,
  params: Record<string, string>,
  effect: 'read' | 'create',
  label: string,
) {
  const request = {
    method: 'POST' as const,
    url: joinUrl(baseUrl(ctx.settings), '/sys/crm_api.wcgp'),
    form: { cmd, ...params, token: ctx.settings.token },
    effect,
    label,
  };
  return { request, response: await ctx.http.call(request, { vendorError: gravitelError }) };
}

async function accounts(ctx: Ctx) {
  const { request, response } = await command(ctx, 'accounts', {}, 'read', 'Gravitel: accounts');
  // A 200 that is not the JSON list (an error text) is read as a refusal.
  if (!Array.isArray(response.body))
    throw ctx.http.errorFor(request, { ...response, status: 400 }, gravitelError(response));
  return response.body as { name?: string; ext?: string; realName?: string; email?: string }[];
}

/** Orders a call: the PBX rings the employee (`user`: login, extension or phone) first, then the client. */
export async function makeCall(ctx: Ctx, call: { phone: string; user: string }): Promise<void> {
  const digits = call.phone.replace(/\D/g, '');
  if (!digits)
    throw new CrmError('Gravitel: no phone to call', {
      kind: 'permanent',
      reason: 'validation',
      field: 'phone',
    });
  // effect 'create': a lost answer may mean the phone is already ringing — never call twice blindly.
  await command(ctx, 'makeCall', { phone: digits, user: call.user }, 'create', 'Gravitel: make call');
}

/** The answer to `cmd=contact`: the name the PBX shows and the employee it routes to. */
export function contactAnswer(contactName: string | null, responsibleLogin: string | null): InboundResult {
  return accepted([], {
    body: JSON.stringify({
      ...(contactName ? { contact_name: contactName } : {}),
      ...(responsibleLogin ? { responsible: responsibleLogin } : {}),
    }),
  });
}

const CALL_STATUS: Record<string, 'answered' | 'missed' | 'busy' | 'unavailable' | 'failed'> = {
  success: 'answered',
  missed: 'missed',
  busy: 'busy',
  notavailable: 'unavailable',
  notallowed: 'failed',
};
const EVENT_STAGE: Record<string, 'incoming' | 'accepted' | 'completed' | 'cancelled' | 'outgoing'> = {
  INCOMING: 'incoming',
  ACCEPTED: 'accepted',
  COMPLETED: 'completed',
  CANCELLED: 'cancelled',
  OUTGOING: 'outgoing',
};

/** "20170703T121110Z" (UTC) → Date. */
export function parseGravitelTime(value: string | null): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec((value ?? '').replace(/\s+/g, ''));
  if (!m) return null;
  return new Date(
    Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])),
  );
}

function parseNotification(
  ctx: Ctx,
  request: {
    method: string;
    headers: Record<string, string | undefined>;
    rawBody: string;
    path: string;
    query: URLSearchParams;
  },
): InboundResult {
  if (request.method !== 'POST') return rejected(400, 'Gravitel notifications are POSTed');
  const body = readBody(request);
  if (!body) return rejected(400, 'unreadable body');
  if (!sameSecret(str(body.crm_token), ctx.settings.crmToken)) return rejected(401, 'Invalid crm_token');
  const phone = phoneKey(body.phone) ?? '';
  const user = str(body.user) || null;
  const callId = str(body.callid) || null;
  const ok = (event: InboundEvent) =>
    accepted([event], { contentType: 'text/plain; charset=utf-8', body: '' });
  switch (body.cmd) {
    case 'history':
      return ok({
        type: 'call',
        direction: body.type === 'out' ? 'out' : 'in',
        status: CALL_STATUS[String(body.status ?? '').toLowerCase()] ?? 'failed',
        phone,
        crmUserId: user,
        startedAt: parseGravitelTime(str(body.start)),
        durationSec: Number(body.duration) || 0,
        recordUrl: str(body.link) || null,
        callId,
      });
    case 'event': {
      const stage = EVENT_STAGE[String(body.type ?? '').toUpperCase()];
      return stage
        ? ok({ type: 'call_event', stage, phone, crmUserId: user, callId })
        : ok({ type: 'ignored', reason: `event ${String(body.type)}` });
    }
    case 'contact':
      // The route answers with contactAnswer(...) once it has looked the phone up.
      return accepted([{ type: 'contact_lookup', phone, callId }], { body: '{}' });
    case 'rating':
      return ok({ type: 'ignored', reason: 'rating' });
    default:
      return rejected(400, 'Invalid cmd');
  }
}

const noRecords = () => notSupported('Gravitel keeps no contact records: calls come to us');

export const gravitel = {
  id: 'gravitel',
  title: { ru: 'Гравител (облачная АТС)', en: 'Gravitel (cloud PBX)' },
  creates: { ru: 'Запись о звонке в чате клиента', en: 'Call record in the contact’s chat' },
  settingsSchema: gravitelSettings,
  rateLimit: { requestsPerSecond: 5, source: 'UNCONFIRMED: Gravitel documents no limit; 5 req/s assumed' },
  handlesContacts: false,
  baseUrl,

  async testConnection(ctx) {
    const list = await accounts(ctx);
    return { accountName: `${ctx.settings.domain} (${list.length})` };
  },

  async findContact() {
    return null;
  },
  async createEntity() {
    throw noRecords();
  },
  async updateEntity() {
    throw noRecords();
  },
  async attachNote() {
    throw noRecords();
  },

  async listUsers(ctx) {
    return (await accounts(ctx)).map(
      (a): CrmUser => ({
        // The login is what notifications name in `user` and what `contact` answers as `responsible`.
        id: a.name ?? a.ext ?? '',
        name: a.realName || a.name || '',
        email: a.email || null,
        active: true,
      }),
    );
  },

  parseInbound: parseNotification,
} satisfies CrmConnector<GravitelSettings>;
