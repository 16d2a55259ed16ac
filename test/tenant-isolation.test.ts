import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../src/accounts/accounts.ts';
import { storeAttachment } from '../src/chat/attachments.ts';
import { sendVisitorMessage } from '../src/chat/messages.ts';
import { createSite, siteByPublicKey } from '../src/chat/sites.ts';
import { identifyVisitor } from '../src/chat/visitors.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from './support/app.ts';
import { backends } from './support/db.ts';

/**
 * Walks every registered route with a second account's credentials (API token and owner session) and
 * proves it can neither read nor change the first account's data. A route missing from `probes` fails
 * the test, so every new route must say how it is probed.
 */
interface Fixture {
  contactId: number;
  groupId: number;
  tokenId: number;
  operatorId: number;
  stopPhone: string;
  importId: number;
  accountId: number;
  schemeId: number;
  mailingId: number;
  // Chat (issue 4): A's site, dialog and file; B's own site key and visitor token (a real visitor of B).
  siteId: number;
  siteKey: string;
  dialogId: number;
  attachmentId: number;
  otherSiteKey: string;
  otherVisitorToken: string;
  senderId: number;
  templateId: number;
}

type Probe =
  | { kind: 'public' } // no tenant data behind it
  | { kind: 'list'; url?: (a: Fixture) => string } // B reads its own list; A's markers must not show
  | { kind: 'foreign'; url: (a: Fixture) => string; body?: (a: Fixture) => unknown } // B names A's object: 4xx
  | { kind: 'create'; body: (a: Fixture) => unknown } // B creates its own object while naming A's ids
  | { kind: 'admin'; url?: (a: Fixture) => string; body?: (a: Fixture) => unknown }; // platform admins only

const MARK = 'ALPHA-PRIVATE-7731';
const SMS_SCHEME = {
  blocks: [
    { id: 's', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 600, content: { text: 'hello' } },
  ],
  links: [],
};

const probes: Record<string, Probe> = {
  'POST /api/v1/auth/login': { kind: 'public' },
  'POST /api/v1/auth/logout': { kind: 'public' },
  'GET /api/v1/me': { kind: 'list' },
  'GET /api/v1/tokens': { kind: 'list' },
  'POST /api/v1/tokens': { kind: 'create', body: () => ({ name: 'b-token' }) },
  'DELETE /api/v1/tokens/:id': { kind: 'foreign', url: (a) => `/api/v1/tokens/${a.tokenId}` },
  'GET /api/v1/users': { kind: 'list' },
  'POST /api/v1/users': {
    kind: 'create',
    body: () => ({ email: 'b-op@example.com', password: 'b-operator-pass', role: 'operator' }),
  },
  'DELETE /api/v1/users/:id': { kind: 'foreign', url: (a) => `/api/v1/users/${a.operatorId}` },
  'GET /api/v1/contacts': { kind: 'list', url: (a) => `/api/v1/contacts?q=${MARK}&group_id=${a.groupId}` },
  'POST /api/v1/contacts': {
    kind: 'create',
    body: (a) => ({ phone: '+79990000001', group_ids: [a.groupId] }),
  },
  'GET /api/v1/contacts/:id': { kind: 'foreign', url: (a) => `/api/v1/contacts/${a.contactId}` },
  'PATCH /api/v1/contacts/:id': {
    kind: 'foreign',
    url: (a) => `/api/v1/contacts/${a.contactId}`,
    body: () => ({ name: 'hacked' }),
  },
  'DELETE /api/v1/contacts/:id': { kind: 'foreign', url: (a) => `/api/v1/contacts/${a.contactId}` },
  'GET /api/v1/groups': { kind: 'list' },
  'POST /api/v1/groups': { kind: 'create', body: () => ({ name: 'b-group' }) },
  'GET /api/v1/groups/:id': { kind: 'foreign', url: (a) => `/api/v1/groups/${a.groupId}` },
  'PATCH /api/v1/groups/:id': {
    kind: 'foreign',
    url: (a) => `/api/v1/groups/${a.groupId}`,
    body: () => ({ name: 'hacked' }),
  },
  'DELETE /api/v1/groups/:id': { kind: 'foreign', url: (a) => `/api/v1/groups/${a.groupId}` },
  'POST /api/v1/groups/:id/members': {
    kind: 'foreign',
    url: (a) => `/api/v1/groups/${a.groupId}/members`,
    body: (a) => ({ contact_ids: [a.contactId] }),
  },
  'DELETE /api/v1/groups/:id/members': {
    kind: 'foreign',
    url: (a) => `/api/v1/groups/${a.groupId}/members`,
    body: (a) => ({ contact_ids: [a.contactId] }),
  },
  'GET /api/v1/stop-list': { kind: 'list' },
  'POST /api/v1/stop-list': { kind: 'create', body: () => ({ phone: '+79160001111', source: 'manual' }) },
  'GET /api/v1/stop-list/check': {
    kind: 'list',
    url: (a) => `/api/v1/stop-list/check?phone=${encodeURIComponent(a.stopPhone)}`,
  },
  'DELETE /api/v1/stop-list/:phone': {
    kind: 'foreign',
    url: (a) => `/api/v1/stop-list/${encodeURIComponent(a.stopPhone)}`,
  },
  'GET /api/v1/imports': { kind: 'list' },
  'POST /api/v1/imports': { kind: 'public' }, // multipart upload; creates only the caller's own import (tested in import tests)
  'GET /api/v1/imports/:id': { kind: 'foreign', url: (a) => `/api/v1/imports/${a.importId}` },
  'GET /api/v1/imports/:id/errors': { kind: 'foreign', url: (a) => `/api/v1/imports/${a.importId}/errors` },
  'POST /api/v1/imports/:id/start': {
    kind: 'foreign',
    url: (a) => `/api/v1/imports/${a.importId}/start`,
    body: (a) => ({ group_id: a.groupId }),
  },
  'GET /api/v1/balance': { kind: 'list' },
  'GET /api/v1/ledger': { kind: 'list' },
  'GET /api/v1/prices': { kind: 'list' },
  'GET /api/v1/admin/accounts': { kind: 'admin' },
  'POST /api/v1/admin/accounts/:id/topup': {
    kind: 'admin',
    url: (a) => `/api/v1/admin/accounts/${a.accountId}/topup`,
    body: () => ({ amount: 100 }),
  },
  'PUT /api/v1/admin/prices': {
    kind: 'admin',
    body: (a) => ({ account_id: a.accountId, channel: 'sms', price: 1 }),
  },
  'GET /api/v1/schemes': { kind: 'list' },
  'GET /api/v1/schemes/templates': { kind: 'list' },
  'POST /api/v1/schemes/validate': { kind: 'create', body: () => SMS_SCHEME },
  'POST /api/v1/schemes': { kind: 'create', body: () => ({ name: 'b-scheme', definition: SMS_SCHEME }) },
  'GET /api/v1/schemes/:id': { kind: 'foreign', url: (a) => `/api/v1/schemes/${a.schemeId}` },
  'DELETE /api/v1/schemes/:id': { kind: 'foreign', url: (a) => `/api/v1/schemes/${a.schemeId}` },
  'GET /api/v1/mailings': { kind: 'list' },
  'POST /api/v1/mailings': {
    kind: 'create',
    body: (a) => ({ scheme_id: a.schemeId, recipients: { group_ids: [a.groupId] }, start: true }),
  },
  'GET /api/v1/mailings/:id': { kind: 'foreign', url: (a) => `/api/v1/mailings/${a.mailingId}` },
  ...Object.fromEntries(
    ['start', 'pause', 'resume', 'cancel', 'refund'].map((action) => [
      `POST /api/v1/mailings/:id/${action}`,
      { kind: 'foreign', url: (a: Fixture) => `/api/v1/mailings/${a.mailingId}/${action}` } as Probe,
    ]),
  ),
  'POST /api/v1/mailings/:id/repeat': {
    kind: 'foreign',
    url: (a) => `/api/v1/mailings/${a.mailingId}/repeat`,
    body: () => ({ subset: 'all' }),
  },
  'GET /api/v1/channels/providers': { kind: 'list' },
  'GET /api/v1/mailings/:id/report': {
    kind: 'foreign',
    url: (a) => `/api/v1/mailings/${a.mailingId}/report`,
  },
  'GET /api/v1/mailings/:id/messages': {
    kind: 'foreign',
    url: (a) => `/api/v1/mailings/${a.mailingId}/messages`,
  },
  'GET /api/v1/mailings/:id/messages.xlsx': {
    kind: 'foreign',
    url: (a) => `/api/v1/mailings/${a.mailingId}/messages.xlsx`,
  },
  'GET /api/v1/mailings/:id/recipients.xlsx': {
    kind: 'foreign',
    url: (a) => `/api/v1/mailings/${a.mailingId}/recipients.xlsx`,
  },
  'GET /api/v1/reports/timeseries': {
    kind: 'list',
    url: (a) =>
      `/api/v1/reports/timeseries?bucket=day&from=2026-01-01&to=2027-01-01&mailing_id=${a.mailingId}`,
  },
  'GET /api/v1/reports/deferred': { kind: 'list' },
  'GET /api/v1/reports/unsubscribed': { kind: 'list' },
  'GET /api/v1/senders': { kind: 'list' },
  'POST /api/v1/senders': { kind: 'create', body: () => ({ channel: 'viber', name: 'b-sender' }) },
  'GET /api/v1/senders/:id': { kind: 'foreign', url: (a) => `/api/v1/senders/${a.senderId}` },
  'DELETE /api/v1/senders/:id': { kind: 'foreign', url: (a) => `/api/v1/senders/${a.senderId}` },
  'POST /api/v1/senders/:id/submit': { kind: 'foreign', url: (a) => `/api/v1/senders/${a.senderId}/submit` },
  'POST /api/v1/senders/:id/letter': { kind: 'foreign', url: (a) => `/api/v1/senders/${a.senderId}/letter` },
  'GET /api/v1/message-templates': { kind: 'list' },
  'POST /api/v1/message-templates': { kind: 'create', body: () => ({ channel: 'vk', text: 'Код (число)' }) },
  'POST /api/v1/message-templates/check': {
    kind: 'create',
    body: () => ({ channel: 'vk', text: `Заказ ${MARK} 12` }),
  },
  'GET /api/v1/message-templates/:id': {
    kind: 'foreign',
    url: (a) => `/api/v1/message-templates/${a.templateId}`,
  },
  'DELETE /api/v1/message-templates/:id': {
    kind: 'foreign',
    url: (a) => `/api/v1/message-templates/${a.templateId}`,
  },
  'POST /api/v1/message-templates/:id/submit': {
    kind: 'foreign',
    url: (a) => `/api/v1/message-templates/${a.templateId}/submit`,
  },
  'GET /api/v1/admin/moderation/senders': { kind: 'admin' },
  'GET /api/v1/admin/moderation/senders/:id/letter': {
    kind: 'admin',
    url: (a) => `/api/v1/admin/moderation/senders/${a.senderId}/letter`,
  },
  'POST /api/v1/admin/moderation/senders/:id/approve': {
    kind: 'admin',
    url: (a) => `/api/v1/admin/moderation/senders/${a.senderId}/approve`,
  },
  'POST /api/v1/admin/moderation/senders/:id/reject': {
    kind: 'admin',
    url: (a) => `/api/v1/admin/moderation/senders/${a.senderId}/reject`,
    body: () => ({ reason: 'x' }),
  },
  'GET /api/v1/admin/moderation/templates': { kind: 'admin' },
  'POST /api/v1/admin/moderation/templates/:id/approve': {
    kind: 'admin',
    url: (a) => `/api/v1/admin/moderation/templates/${a.templateId}/approve`,
  },
  'POST /api/v1/admin/moderation/templates/:id/reject': {
    kind: 'admin',
    url: (a) => `/api/v1/admin/moderation/templates/${a.templateId}/reject`,
    body: () => ({ reason: 'x' }),
  },
  'GET /api/v1/sites': { kind: 'list' },
  'POST /api/v1/sites': { kind: 'create', body: (a) => ({ name: 'b-site', operator_ids: [a.operatorId] }) },
  'GET /api/v1/sites/:id': { kind: 'foreign', url: (a) => `/api/v1/sites/${a.siteId}` },
  'PATCH /api/v1/sites/:id': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}`,
    body: () => ({ name: 'hacked' }),
  },
  'DELETE /api/v1/sites/:id': { kind: 'foreign', url: (a) => `/api/v1/sites/${a.siteId}` },
  'GET /api/v1/sites/:id/embed': { kind: 'foreign', url: (a) => `/api/v1/sites/${a.siteId}/embed` },
  'POST /api/v1/sites/:id/rotate-key': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/rotate-key`,
  },
  'GET /api/v1/dialogs': { kind: 'list', url: (a) => `/api/v1/dialogs?site_id=${a.siteId}` },
  'GET /api/v1/dialogs/:id': { kind: 'foreign', url: (a) => `/api/v1/dialogs/${a.dialogId}` },
  'GET /api/v1/dialogs/:id/messages': {
    kind: 'foreign',
    url: (a) => `/api/v1/dialogs/${a.dialogId}/messages`,
  },
  'POST /api/v1/dialogs/:id/messages': {
    kind: 'foreign',
    url: (a) => `/api/v1/dialogs/${a.dialogId}/messages`,
    body: () => ({ client_id: 'b', text: 'hacked' }),
  },
  'POST /api/v1/dialogs/:id/transfer': {
    kind: 'foreign',
    url: (a) => `/api/v1/dialogs/${a.dialogId}/transfer`,
    body: (a) => ({ to_user_id: a.operatorId }),
  },
  'POST /api/v1/dialogs/:id/take': { kind: 'foreign', url: (a) => `/api/v1/dialogs/${a.dialogId}/take` },
  'POST /api/v1/dialogs/:id/close': { kind: 'foreign', url: (a) => `/api/v1/dialogs/${a.dialogId}/close` },
  'POST /api/v1/dialogs/:id/read': {
    kind: 'foreign',
    url: (a) => `/api/v1/dialogs/${a.dialogId}/read`,
    body: () => ({ up_to: 1 }),
  },
  'GET /api/v1/dialogs/:id/card': { kind: 'foreign', url: (a) => `/api/v1/dialogs/${a.dialogId}/card` },
  'PATCH /api/v1/dialogs/:id/contact': {
    kind: 'foreign',
    url: (a) => `/api/v1/dialogs/${a.dialogId}/contact`,
    body: () => ({ name: 'hacked' }),
  },
  'GET /api/v1/operators': { kind: 'list' },
  'PUT /api/v1/operators/:id/status': {
    kind: 'foreign',
    url: (a) => `/api/v1/operators/${a.operatorId}/status`,
    body: () => ({ status: 'online' }),
  },
  'POST /api/v1/chat/attachments': { kind: 'create', body: () => ({}) }, // not multipart: 415, B's own upload otherwise
  'GET /api/v1/chat/attachments/:id': {
    kind: 'foreign',
    url: (a) => `/api/v1/chat/attachments/${a.attachmentId}`,
  },
  'GET /api/v1/chat/events': { kind: 'list' },
  // Widget routes take no account credentials: B acts as a real visitor of its own site.
  'POST /api/v1/widget/sites/:key/attachments': {
    kind: 'foreign',
    url: (a) => `/api/v1/widget/sites/${a.siteKey}/attachments?visitor_token=${a.otherVisitorToken}`,
  },
  'GET /api/v1/widget/sites/:key/attachments/:id': {
    kind: 'foreign',
    url: (a) =>
      `/api/v1/widget/sites/${a.otherSiteKey}/attachments/${a.attachmentId}?visitor_token=${a.otherVisitorToken}`,
  },
  // Sockets authenticate in their first frame; cross-site and cross-account refusals: test/chat/bad-input.test.ts.
  'GET /ws/visitor': { kind: 'public' },
  'GET /ws/operator': { kind: 'public' },
  // CRM hub (issue 5): everything is under A's site; B's credentials must get 404 before any CRM call.
  'GET /api/v1/integrations/systems': { kind: 'list' },
  'GET /api/v1/sites/:siteId/integrations': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations`,
  },
  'GET /api/v1/sites/:siteId/integrations/:system': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm`,
  },
  'PUT /api/v1/sites/:siteId/integrations/:system': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm`,
    body: () => ({ domain: 'demo.retailcrm.ru', apiKey: 'x', apiBaseUrl: 'http://127.0.0.1:9' }),
  },
  'DELETE /api/v1/sites/:siteId/integrations/:system': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm`,
  },
  'GET /api/v1/sites/:siteId/integrations/:system/operators': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm/operators`,
  },
  'PUT /api/v1/sites/:siteId/integrations/:system/operators': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm/operators`,
    body: (a) => ({ mapping: [{ user_id: a.operatorId, crm_user_id: '1' }] }),
  },
  'GET /api/v1/sites/:siteId/integrations/:system/failed': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm/failed`,
  },
  'POST /api/v1/sites/:siteId/integrations/:system/failed/retry': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm/failed/retry`,
    body: () => ({}),
  },
  'POST /api/v1/sites/:siteId/integrations/:system/failed/discard': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/retailcrm/failed/discard`,
    body: () => ({}),
  },
  'GET /api/v1/sites/:siteId/integrations/:system/oauth/authorize': {
    kind: 'foreign',
    url: (a) => `/api/v1/sites/${a.siteId}/integrations/amocrm/oauth/authorize`,
  },
  // Authenticated by a sealed OAuth state / by the connector (URL token, shared key, signature).
  'GET /api/v1/integrations/oauth/:system/callback': { kind: 'public' },
  'GET /api/v1/hooks/crm/:integrationId/*': { kind: 'public' },
  'POST /api/v1/hooks/crm/:integrationId/*': { kind: 'public' },
  'GET /api/openapi.json': { kind: 'public' },
  'GET /healthz': { kind: 'public' },
  'GET /metrics': { kind: 'public' },
  // Plain pages and scripts (src/web): static, or the demo account's public site key only.
  'GET /widget/v1/widget.js': { kind: 'public' },
  'GET /widget.js': { kind: 'public' },
  'GET /operator': { kind: 'public' },
  'GET /operator/app.js': { kind: 'public' },
  'GET /demo': { kind: 'public' },
};

const isPublicPrefix = (url: string) => url.startsWith('/api/docs');

describe.each(backends)('tenant isolation on $name', (backend) => {
  let t: TestApp;
  let a: Tenant;
  let b: Tenant;
  let fixture: Fixture;
  const routes: { method: string; url: string }[] = [];

  const snapshot = async () => {
    const db = t.ctx.db;
    const id = a.accountId;
    return {
      account: await db.selectFrom('accounts').selectAll().where('id', '=', id).execute(),
      contacts: await db
        .selectFrom('contacts')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      groups: await db
        .selectFrom('contact_groups')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      members: await db
        .selectFrom('contact_group_members')
        .innerJoin('contact_groups', 'contact_groups.id', 'contact_group_members.group_id')
        .select(['group_id', 'contact_id'])
        .where('contact_groups.account_id', '=', id)
        .orderBy('group_id')
        .orderBy('contact_id')
        .execute(),
      stop: await db
        .selectFrom('stop_list')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('phone')
        .execute(),
      tokens: await db
        .selectFrom('api_tokens')
        .select(['id', 'revoked_at'])
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      users: await db
        .selectFrom('users')
        .select(['id', 'email', 'role'])
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      imports: await db
        .selectFrom('imports')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      ledger: await db.selectFrom('ledger').selectAll().where('account_id', '=', id).orderBy('id').execute(),
      sites: await db.selectFrom('sites').selectAll().where('account_id', '=', id).orderBy('id').execute(),
      visitors: await db
        .selectFrom('visitors')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      dialogs: await db
        .selectFrom('dialogs')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      chatMessages: await db
        .selectFrom('chat_messages')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      chatAttachments: await db
        .selectFrom('chat_attachments')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      outbox: await db.selectFrom('outbox').selectAll().where('account_id', '=', id).orderBy('id').execute(),
      presence: await db
        .selectFrom('operator_presence')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('user_id')
        .execute(),
      prices: await db
        .selectFrom('price_list')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      senders: await db
        .selectFrom('senders')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
      templates: await db
        .selectFrom('message_templates')
        .selectAll()
        .where('account_id', '=', id)
        .orderBy('id')
        .execute(),
    };
  };

  beforeAll(async () => {
    t = await startTestApp(backend, {
      onRoute: (r) => routes.push(...[r.method].flat().map((method) => ({ method, url: r.url }))),
    });
    a = await createTenant(t.ctx, `Alpha ${MARK}`);
    b = await createTenant(t.ctx);
    const api = (method: 'POST' | 'GET', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: a.auth, ...(payload && { payload }) });
    const group = (await api('POST', '/api/v1/groups', { name: `${MARK} group` })).json();
    const contact = (
      await api('POST', '/api/v1/contacts', {
        phone: '+79161112233',
        email: 'alpha-private@example.com',
        name: MARK,
        vars: { secret: MARK },
        group_ids: [group.id],
      })
    ).json();
    const token = (await api('POST', '/api/v1/tokens', { name: MARK })).json();
    const operator = await createUser(t.ctx.db, t.ctx.clock, {
      accountId: a.accountId,
      email: 'alpha-operator@example.com',
      password: 'alpha-operator',
      role: 'operator',
      name: MARK,
    });
    await api('POST', '/api/v1/stop-list', { phone: '+79167778899', reason: MARK });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iso-'));
    const file = path.join(dir, 'a.csv');
    fs.writeFileSync(file, `phone,name\n+79160000000,${MARK}\n`);
    const form = new FormData();
    form.append('file', new Blob([fs.readFileSync(file)]), `${MARK}.csv`);
    const upload = await fetch(
      await t.app.listen({ port: 0, host: '127.0.0.1' }).then((u) => `${u}/api/v1/imports`),
      {
        method: 'POST',
        headers: a.auth,
        body: form,
      },
    );
    const imported = (await upload.json()) as { id: number };
    const scheme = (
      await api('POST', '/api/v1/schemes', {
        name: `${MARK} scheme`,
        definition: { ...SMS_SCHEME, blocks: [{ ...SMS_SCHEME.blocks[0], content: { text: MARK } }] },
      })
    ).json();
    const mailing = (
      await api('POST', '/api/v1/mailings', {
        name: MARK,
        scheme_id: scheme.id,
        recipients: { group_ids: [group.id] },
        start: true,
      })
    ).json();
    expect(mailing.status).toBe('running');
    const site = await createSite(t.ctx.db, t.ctx.clock, a.accountId, {
      name: `${MARK} site`,
      settings: { greeting: MARK },
    });
    const visitor = await identifyVisitor(
      t.ctx.db,
      t.ctx.clock,
      await siteByPublicKey(t.ctx.db, site.public_key),
      undefined,
      MARK,
    );
    const sent = await sendVisitorMessage(t.ctx.db, t.ctx.clock, visitor.visitor, {
      clientId: 'a1',
      text: `${MARK}: мой телефон +7 916 555-44-33`,
    });
    const chatFile = await storeAttachment(
      t.ctx.db,
      t.ctx.clock,
      dir,
      { accountId: a.accountId, siteId: site.id, visitorId: visitor.visitor.id, userId: null },
      {
        filename: `${MARK}.txt`,
        mimetype: 'text/plain',
        stream: Readable.from([Buffer.from(MARK)]),
      },
    );
    t.ctx.dataDir = dir;
    const otherSite = await createSite(t.ctx.db, t.ctx.clock, b.accountId, { name: 'b-own-site' });
    const otherVisitor = await identifyVisitor(
      t.ctx.db,
      t.ctx.clock,
      await siteByPublicKey(t.ctx.db, otherSite.public_key),
      undefined,
      'b',
    );
    const sender = (await api('POST', '/api/v1/senders', { channel: 'viber', name: `${MARK} Shop` })).json();
    await api('POST', `/api/v1/senders/${sender.id}/submit`);
    const template = (
      await api('POST', '/api/v1/message-templates', { channel: 'vk', text: `Заказ ${MARK} (число)` })
    ).json();
    await api('POST', `/api/v1/message-templates/${template.id}/submit`);
    expect([sender.status, template.status]).toEqual(['draft', 'draft']);
    fixture = {
      contactId: contact.id,
      groupId: group.id,
      tokenId: token.id,
      operatorId: operator.id,
      stopPhone: '+79167778899',
      importId: imported.id,
      accountId: a.accountId,
      schemeId: scheme.id,
      mailingId: mailing.id,
      siteId: site.id,
      siteKey: site.public_key,
      dialogId: sent.message.dialog_id,
      attachmentId: chatFile.id,
      otherSiteKey: otherSite.public_key,
      otherVisitorToken: otherVisitor.token!,
      senderId: sender.id,
      templateId: template.id,
    };
  });
  afterAll(() => t.close());

  it('classifies every registered route', () => {
    const unknown = routes
      .filter((r) => r.method !== 'HEAD' && !isPublicPrefix(r.url))
      .map((r) => `${r.method} ${r.url}`)
      .filter((key) => !(key in probes));
    expect(unknown).toEqual([]);
  });

  it.each(['token', 'session'] as const)(
    "a second account's %s neither reads nor changes the first account's data",
    async (via) => {
      const before = await snapshot();
      let headers: Record<string, string> = b.auth;
      if (via === 'session') {
        const login = await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: b.ownerEmail, password: b.ownerPassword },
        });
        headers = {
          cookie: `omnitalk_session=${login.cookies.find((c) => c.name === 'omnitalk_session')!.value}`,
        };
      }
      const seen = new Set<string>();
      for (const route of routes) {
        const key = `${route.method} ${route.url}`;
        if (route.method === 'HEAD' || isPublicPrefix(route.url) || seen.has(key)) continue;
        seen.add(key);
        const probe = probes[key]!;
        if (probe.kind === 'public') continue;
        const url = 'url' in probe && probe.url ? probe.url(fixture) : route.url;
        const body = 'body' in probe && probe.body ? (probe.body(fixture) as object) : undefined;
        const res = await t.app.inject({
          method: route.method as 'GET',
          url,
          headers,
          ...(body && { payload: body }),
        });
        const context = `${key} via ${via}: ${res.statusCode} ${res.body.slice(0, 200)}`;
        expect(res.body, context).not.toContain(MARK);
        expect(res.body, context).not.toContain('alpha-private@example.com');
        if (probe.kind === 'foreign') expect([403, 404], context).toContain(res.statusCode);
        if (probe.kind === 'admin') expect(res.statusCode, context).toBe(403);
        if (probe.kind === 'list') expect(res.statusCode, context).toBe(200);
        if (probe.kind === 'create') expect(res.statusCode, context).toBeLessThan(500);
      }
      expect(seen.size).toBeGreaterThan(20);
      expect(await snapshot()).toEqual(before);
    },
  );
});
