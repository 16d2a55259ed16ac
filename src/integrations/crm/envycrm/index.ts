import { z } from 'zod';
import { displayName, emailKey, matchesLookup, phoneDigits } from '../contact.ts';
import { type CallEffect, CrmError } from '../errors.ts';
import type { HttpResponse, VendorError } from '../http.ts';
import { field, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';

/**
 * IN-6 envyCRM, API v1 (crm-apis.md §9): `{base}/crm/api/v1/{section}/{action}/?api_key=…`, POST bodies
 * `{"request": {…}}`, answers `{result, status_code, message}`. Creates an incoming request in
 * "Входящие" with `lead/set` `method: "create"`.
 *
 * Sources: dzham/envycrm_apiv1 src/Client.php (paths, the `request` wrapper, GET main/data, non-200
 * answers carrying `message`), examples/lead/create_lead.php (`department_id`, `inbox_type_id`,
 * `values{name,email,phone}`), examples/lead/search_lead.php (`lead/search {email}`),
 * examples/lead/update_lead_value.php (`lead/updateLeadValue {lead_id, fields: [{value_type_id: 1,
 * input_id, value}]}`, email = input 3 in that account); regpage/shipping_api api/service/*.php (the
 * answer's payload under `result`; accounts also answer on `{account}.envycrm.com`).
 * UNCONFIRMED, hence settings filled from main/data where possible and read tolerantly: the shape of
 * main/data (`departments`, `inbox_types`, `inputs`, `employees` assumed), search answers, and where
 * a dialog goes — there is no documented note method, so the transcript is appended to the lead's
 * comment input.
 */

export const envycrmSettings = z.object({
  apiKey: field(z.string().trim().min(1), { label: { ru: 'Ключ API', en: 'API key' }, secret: true }),
  departmentId: field(z.coerce.number().int().positive().optional(), {
    label: { ru: 'Отдел', en: 'Department' },
    advanced: true,
  }),
  inboxTypeId: field(z.coerce.number().int().positive().optional(), {
    label: { ru: 'Тип входящих', en: 'Inbox type' },
    advanced: true,
  }),
  phoneInputId: field(z.coerce.number().int().positive().optional(), {
    label: { ru: 'Поле «Телефон»', en: 'Phone input' },
    advanced: true,
  }),
  emailInputId: field(z.coerce.number().int().positive().optional(), {
    label: { ru: 'Поле «Email»', en: 'Email input' },
    advanced: true,
  }),
  commentInputId: field(z.coerce.number().int().positive().optional(), {
    label: { ru: 'Поле «Комментарий»', en: 'Comment input' },
    advanced: true,
  }),
  apiBaseUrl: field(z.url({ protocol: /^https?$/ }).default('https://envycrm.com'), {
    label: { ru: 'Адрес API', en: 'API address' },
    advanced: true,
  }),
});
export type EnvycrmSettings = z.infer<typeof envycrmSettings>;
type Ctx = CrmContext<EnvycrmSettings>;

const baseUrl = (settings: EnvycrmSettings) => settings.apiBaseUrl;

function envyError(response: HttpResponse): VendorError | null {
  const message = (response.body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? { message } : null;
}

async function call<T>(
  ctx: Ctx,
  path: string,
  request: Record<string, unknown> | null,
  effect: CallEffect,
  label: string,
): Promise<T> {
  const response = await ctx.http.call(
    {
      method: request === null ? 'GET' : 'POST',
      // The trailing slash is how both known clients call it.
      url: joinUrl(baseUrl(ctx.settings), `/crm/api/v1${path}/`),
      query: { api_key: ctx.settings.apiKey },
      ...(request === null ? {} : { json: { request } }),
      effect,
      label,
    },
    { vendorError: envyError },
  );
  return (response.body as { result?: T } | undefined)?.result as T;
}

interface Named {
  id: number;
  name?: string;
  code?: string;
  email?: string;
  active?: boolean | number;
}
interface CrmData {
  departments?: Named[];
  inbox_types?: Named[];
  inputs?: Named[];
  employees?: Named[];
}

interface EnvyLead {
  id?: number | string;
  lead_id?: number | string;
  values?: Record<string, unknown>;
}

/** Every string value of a lead (values may be flat or `{code: {value}}`). */
function valuesOf(lead: EnvyLead): string[] {
  const out: string[] = [];
  const visit = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') Object.values(v as Record<string, unknown>).forEach(visit);
  };
  visit(lead.values ?? {});
  return out;
}

const leadsOf = (result: unknown): EnvyLead[] =>
  Array.isArray(result)
    ? (result as EnvyLead[])
    : result && typeof result === 'object'
      ? Object.values(result as Record<string, EnvyLead>).filter((v) => v && typeof v === 'object')
      : [];

const idOf = (lead: EnvyLead) => String(lead.id ?? lead.lead_id ?? '');

async function updateValue(ctx: Ctx, leadId: string, inputId: number, value: string, label: string) {
  await call(
    ctx,
    '/lead/updateLeadValue',
    { lead_id: Number(leadId), fields: [{ value_type_id: 1, input_id: inputId, value }] },
    'write',
    label,
  );
}

export const envycrm = {
  id: 'envycrm',
  title: { ru: 'envyCRM', en: 'envyCRM' },
  creates: { ru: 'Заявка во «Входящих»', en: 'Incoming request ("Входящие")' },
  settingsSchema: envycrmSettings,
  rateLimit: { requestsPerSecond: 2, source: 'UNCONFIRMED: envyCRM publishes no limit; 2 req/s assumed' },
  baseUrl,

  async prepareSettings(ctx) {
    // Department, inbox type and field ids come from the CRM's own structure unless the admin set them.
    const data = (await call<CrmData>(ctx, '/main/data', null, 'read', 'envyCRM: CRM structure')) ?? {};
    const input = (code: string) => data.inputs?.find((i) => i.code === code)?.id;
    const settings = {
      ...ctx.settings,
      departmentId: ctx.settings.departmentId ?? data.departments?.[0]?.id,
      inboxTypeId: ctx.settings.inboxTypeId ?? data.inbox_types?.[0]?.id,
      phoneInputId: ctx.settings.phoneInputId ?? input('phone'),
      emailInputId: ctx.settings.emailInputId ?? input('email'),
      commentInputId: ctx.settings.commentInputId ?? input('comment'),
    };
    if (!settings.departmentId || !settings.inboxTypeId) {
      throw new CrmError('envyCRM: choose the department and inbox type', {
        kind: 'permanent',
        reason: 'validation',
        field: 'departmentId',
      });
    }
    return settings;
  },

  async testConnection(ctx) {
    await call(ctx, '/main/data', null, 'read', 'envyCRM: CRM structure');
    return { accountName: null };
  },

  async findContact(ctx, lookup) {
    const searches = [
      ...lookup.phones.map((p) => ({ phone: phoneDigits(p) })),
      ...lookup.emails.map((e) => ({ email: emailKey(e) ?? e })),
    ];
    for (const search of searches) {
      const result = await call<unknown>(ctx, '/lead/search', search, 'read', 'envyCRM: search leads');
      const matches = leadsOf(result).filter((lead) => {
        const values = valuesOf(lead);
        return idOf(lead) !== '' && matchesLookup(lookup, { phones: values, emails: values });
      });
      if (matches.length)
        return {
          kind: 'lead',
          id: String(Math.min(...matches.map((l) => Number(idOf(l))))),
        } satisfies CrmRef;
    }
    return null;
  },

  async createEntity(ctx, contact, _options) {
    const { departmentId, inboxTypeId } = ctx.settings;
    if (!departmentId || !inboxTypeId) {
      throw new CrmError('envyCRM: department and inbox type are not set', {
        kind: 'permanent',
        reason: 'not_configured',
        field: 'departmentId',
      });
    }
    const extra = [
      ...contact.phones.slice(1).map((p) => `Телефон: ${p}`),
      ...contact.emails.slice(1).map((e) => `Email: ${e}`),
    ];
    const comment = [contact.comment, ...extra].filter(Boolean).join('\n');
    const result = await call<unknown>(
      ctx,
      '/lead/set',
      {
        method: 'create',
        department_id: departmentId,
        inbox_type_id: inboxTypeId,
        values: {
          name: displayName(contact),
          ...(contact.emails[0] ? { email: contact.emails[0] } : {}),
          ...(contact.phones[0] ? { phone: phoneDigits(contact.phones[0]) } : {}),
          ...(comment ? { comment } : {}),
        },
      },
      'create',
      'envyCRM: create lead',
    );
    const id =
      typeof result === 'number' || typeof result === 'string'
        ? String(result)
        : idOf((result ?? {}) as EnvyLead);
    if (!id)
      throw new CrmError('envyCRM: create answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    return { kind: 'lead', id };
  },

  async updateEntity(ctx, ref, contact) {
    const result = await call<unknown>(
      ctx,
      '/lead/get',
      { lead_id: Number(ref.id) },
      'read',
      'envyCRM: get lead',
    );
    const lead = (Array.isArray(result) ? result[0] : result) as EnvyLead | undefined;
    if (!lead)
      throw new CrmError(`envyCRM: lead ${ref.id} not found`, { kind: 'permanent', reason: 'not_found' });
    const values = valuesOf(lead);
    const known = { phones: values, emails: values };
    const phone = contact.phones.find((p) => !matchesLookup({ phones: [p], emails: [] }, known));
    const email = contact.emails.find((e) => !matchesLookup({ phones: [], emails: [e] }, known));
    if (email && ctx.settings.emailInputId)
      await updateValue(ctx, ref.id, ctx.settings.emailInputId, email, 'envyCRM: update email');
    if (phone && ctx.settings.phoneInputId)
      await updateValue(ctx, ref.id, ctx.settings.phoneInputId, phoneDigits(phone), 'envyCRM: update phone');
  },

  async attachNote(ctx, ref, note) {
    const inputId = ctx.settings.commentInputId;
    if (!inputId)
      throw new CrmError('envyCRM: the comment field is not known', {
        kind: 'permanent',
        reason: 'not_configured',
        field: 'commentInputId',
      });
    const result = await call<unknown>(
      ctx,
      '/lead/get',
      { lead_id: Number(ref.id) },
      'read',
      'envyCRM: get lead',
    );
    const lead = (Array.isArray(result) ? result[0] : result) as EnvyLead | undefined;
    const raw = lead?.values?.comment;
    const current =
      typeof raw === 'string'
        ? raw
        : typeof (raw as { value?: unknown })?.value === 'string'
          ? String((raw as { value: string }).value)
          : '';
    // Appending keeps what managers wrote; writing the whole field makes a repeat harmless.
    const text = current.includes(note.text) ? current : [current, note.text].filter(Boolean).join('\n\n');
    if (text !== current) await updateValue(ctx, ref.id, inputId, text, 'envyCRM: append dialog');
    return ref;
  },

  async listUsers(ctx) {
    const data = (await call<CrmData>(ctx, '/main/data', null, 'read', 'envyCRM: CRM structure')) ?? {};
    return (data.employees ?? []).map(
      (e): CrmUser => ({
        id: String(e.id),
        name: e.name ?? '',
        email: e.email ?? null,
        active: e.active !== false && e.active !== 0,
      }),
    );
  },
} satisfies CrmConnector<EnvycrmSettings>;
