import { randomBytes } from 'node:crypto';
import { digitsOf, FakeHttpServer, type FakeResponse, type RecordedRequest } from './crm-server.ts';

/**
 * A fake Bitrix24 portal plus its OAuth server (one port serves both). Relied on, besides crm-apis.md
 * §2, from bitrix-tools/b24-rest-docs:
 * - settings/oauth/index.md, auto-renewal.md: GET /oauth/token/ with grant_type, client_id,
 *   client_secret, code|refresh_token → {access_token, refresh_token, expires_in: 3600,
 *   client_endpoint, member_id, …}; settings/oauth/error-codes.md: `invalid_grant`, `invalid_client`.
 * - error-codes.md and _includes/system-errors.md: errors are `{error, error_description}`; 401
 *   `expired_token`, 401 `NO_AUTH_FOUND` (bad token or webhook code), 503 `QUERY_LIMIT_EXCEEDED`, and a
 *   method's "not found" as 400 `{"error": "", "error_description": "Not found"}`.
 * - api-reference/user/user-get.md: pages of 50, `start`, `next`, `total`.
 * - api-reference/crm/leads/crm-lead-update.md: `{id, fields}`.
 * - Open Lines, application context only (webhook calls get 403 WRONG_AUTH_TYPE):
 *   api-reference/imopenlines/imconnector/imconnector-register.md (errors as HTTP 200
 *   `{result: {result: false, error, error_description}}`, ID lower-cased, no dots),
 *   imconnector-activate.md, imconnector-send-messages.md (`result.SUCCESS`, `DATA.RESULT[]` with
 *   `session`; 400 NOT_ACTIVE_LINE), imconnector-send-status-delivery.md (`{SUCCESS, DATA: []}`),
 *   events/on-im-connector-message-add.md (the event body), api-reference/events/event-bind.md,
 *   event-get.md, api-reference/common/system/app-info.md (400 ACCESS_DENIED outside an application).
 *   A second bind of one handler answers `ERROR_CORE` "Handler already binded" (what public integrations
 *   check for; the docs do not list it).
 * The HTTP status of OAuth-server errors (400 here) is not stated in the pages read; users report a 400
 * from /oauth/token/ with `{"error":"invalid_grant"}` for a refresh token that no longer works
 * (dev.1c-bitrix.ru forum48 topic81871, forum6 topic19934). Multi-field
 * update semantics (a value without ID is added, ID with empty VALUE deletes) are the widely used
 * behaviour, not spelled out in the pages read.
 */

interface Multi {
  ID: string;
  TYPE_ID: 'PHONE' | 'EMAIL';
  VALUE: string;
  VALUE_TYPE: string;
}

export interface BitrixFakeEntity {
  ID: string;
  kind: 'LEAD' | 'CONTACT';
  fields: Record<string, unknown>;
  PHONE: Multi[];
  EMAIL: Multi[];
  comments: string[];
}

const ok = (result: unknown, extra: Record<string, unknown> = {}): FakeResponse => ({
  status: 200,
  body: {
    result,
    time: { start: Date.now() / 1000, finish: Date.now() / 1000, duration: 0.01, processing: 0.01 },
    ...extra,
  },
});
const fail = (status: number, error: string, description: string): FakeResponse => ({
  status,
  body: { error, error_description: description },
});

const PHONE_TYPES = ['WORK', 'MOBILE', 'FAX', 'HOME', 'PAGER', 'MAILING', 'OTHER'];
const EMAIL_TYPES = ['WORK', 'HOME', 'MAILING', 'OTHER'];

/** One message a visitor's side sent into an Open Line, as the fake stored it. */
export interface OpenLineMessage {
  connector: string;
  line: number;
  user: Record<string, unknown>;
  message: Record<string, unknown>;
  chat: Record<string, unknown>;
  /** The Open Line chat it landed in (one per external user: CHAT_GROUP false). */
  imChatId: number;
}

const KNOWN_EVENTS = ['ONIMCONNECTORMESSAGEADD', 'ONAPPINSTALL', 'ONAPPTEST', 'ONCRMLEADADD'];

export class Bitrix24Fake {
  readonly clientId = 'local.6630f1a2b3c4d5.12345678';
  readonly clientSecret = 'b24-client-secret';
  readonly webhookUser = '1';
  readonly webhookCode = 'k3y5ecr3tw3bh00k';
  readonly memberId = 'a223c6b3710f85df22e9377d6c4f7553';
  /** What the portal puts into `auth[application_token]` of this app's events. */
  readonly applicationToken = randomBytes(16).toString('hex');
  /** imconnector.register calls by connector ID (lower case). */
  readonly connectors = new Map<string, Record<string, unknown>>();
  /** Active lines per connector. */
  readonly activeLines = new Map<string, Set<number>>();
  readonly handlers: { event: string; handler: string; auth_type: string; offline: number }[] = [];
  readonly openLineMessages: OpenLineMessage[] = [];
  readonly deliveries: Record<string, unknown>[] = [];
  readonly #imChats = new Map<string, number>();
  #nextIm = 86_000;
  readonly entities = new Map<string, BitrixFakeEntity>();
  readonly users = [
    { ID: '1', ACTIVE: true, NAME: 'Анна', LAST_NAME: 'Админова', EMAIL: 'anna@example.com' },
    ...Array.from({ length: 54 }, (_, i) => ({
      ID: String(10 + i),
      ACTIVE: i !== 3,
      NAME: `Менеджер${i}`,
      LAST_NAME: 'Тестов',
      EMAIL: `m${i}@example.com`,
    })),
  ];
  readonly #access = new Map<string, { expiresAt: number }>();
  readonly #refresh = new Set<string>();
  readonly #codes = new Set<string>();
  #nextId = 100;
  #nextMulti = 1000;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<Bitrix24Fake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new Bitrix24Fake(server);
    server.setHandler((r) => fake.#handle(r));
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  get webhookUrl(): string {
    return `${this.url}/rest/${this.webhookUser}/${this.webhookCode}/`;
  }

  issueCode(): string {
    const code = randomBytes(8).toString('hex');
    this.#codes.add(code);
    return code;
  }

  issueTokens(): { accessToken: string; refreshToken: string; expiresAt: number } {
    const accessToken = randomBytes(16).toString('hex');
    const refreshToken = randomBytes(16).toString('hex');
    const expiresAt = Date.now() + 3600_000;
    this.#access.set(accessToken, { expiresAt });
    this.#refresh.add(refreshToken);
    return { accessToken, refreshToken, expiresAt };
  }

  expireAccessTokens(): void {
    for (const token of this.#access.values()) token.expiresAt = 0;
  }

  /** Every refresh token stops working (application removed, or unused past its lifetime). */
  revokeRefreshTokens(): void {
    this.#refresh.clear();
  }

  seed(
    kind: 'LEAD' | 'CONTACT',
    data: { name: string; phones: string[]; emails: string[] },
  ): BitrixFakeEntity {
    const entity: BitrixFakeEntity = {
      ID: String(this.#nextId++),
      kind,
      fields: { NAME: data.name, TITLE: data.name },
      PHONE: data.phones.map((VALUE) => this.#multi('PHONE', VALUE, 'WORK')),
      EMAIL: data.emails.map((VALUE) => this.#multi('EMAIL', VALUE, 'WORK')),
      comments: [],
    };
    this.entities.set(entity.ID, entity);
    return entity;
  }

  #multi(TYPE_ID: 'PHONE' | 'EMAIL', VALUE: string, VALUE_TYPE: string): Multi {
    return { ID: String(this.#nextMulti++), TYPE_ID, VALUE, VALUE_TYPE };
  }

  #oauth(request: RecordedRequest): FakeResponse {
    const q = request.query;
    if (request.method !== 'GET') return fail(400, 'invalid_request', 'GET expected');
    if (q.get('client_id') !== this.clientId || q.get('client_secret') !== this.clientSecret) {
      return fail(400, 'invalid_client', 'Invalid client');
    }
    const grant = q.get('grant_type');
    if (grant === 'authorization_code') {
      if (!this.#codes.delete(q.get('code') ?? ''))
        return fail(400, 'invalid_grant', 'Invalid authorization code');
    } else if (grant === 'refresh_token') {
      if (!this.#refresh.delete(q.get('refresh_token') ?? ''))
        return fail(400, 'invalid_grant', 'Invalid refresh token');
    } else {
      return fail(400, 'invalid_request', 'Unknown grant_type');
    }
    const pair = this.issueTokens();
    return {
      status: 200,
      body: {
        access_token: pair.accessToken,
        client_endpoint: 'https://example.bitrix24.ru/rest/',
        domain: 'oauth.bitrix24.tech',
        expires: Math.floor(pair.expiresAt / 1000),
        expires_in: 3600,
        member_id: this.memberId,
        refresh_token: pair.refreshToken,
        scope: 'crm,user,imopenlines',
        server_endpoint: 'https://oauth.bitrix24.tech/rest/',
        status: 'L',
      },
    };
  }

  #handle(request: RecordedRequest): FakeResponse {
    if (request.path === '/oauth/token/') return this.#oauth(request);
    const webhook = /^\/rest\/([^/]+)\/([^/]+)\/([a-z0-9.]+?)(\.json)?$/i.exec(request.path);
    const oauth = /^\/rest\/([a-z0-9.]+?)(\.json)?$/i.exec(request.path);
    const params = (request.json ?? Object.fromEntries(request.form)) as Record<string, unknown>;
    let method: string;
    let app = false;
    if (webhook) {
      if (webhook[1] !== this.webhookUser || webhook[2] !== this.webhookCode) {
        return fail(401, 'NO_AUTH_FOUND', 'Wrong authorization data');
      }
      method = webhook[3]!;
    } else if (oauth) {
      const token = String(params.auth ?? request.query.get('auth') ?? '');
      const entry = this.#access.get(token);
      if (!entry) return fail(401, 'NO_AUTH_FOUND', 'Wrong authorization data');
      if (entry.expiresAt <= Date.now())
        return fail(401, 'expired_token', 'The access token provided has expired.');
      method = oauth[1]!;
      app = true;
    } else {
      return fail(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
    }
    return this.#method(method.toLowerCase(), params, app);
  }

  #method(method: string, params: Record<string, unknown>, app: boolean): FakeResponse {
    if (!app && (method.startsWith('imconnector.') || method.startsWith('event.')))
      return fail(
        403,
        'WRONG_AUTH_TYPE',
        'Current authorization type is denied for this method Application context required',
      );
    switch (method) {
      case 'app.info':
        if (!app) return fail(400, 'ACCESS_DENIED', 'Access denied! Application context required');
        return ok({
          ID: 5,
          CODE: this.clientId,
          VERSION: 1,
          STATUS: 'L',
          INSTALLED: true,
          PAYMENT_EXPIRED: 'N',
          DAYS: null,
          LANGUAGE_ID: 'ru',
          LICENSE: 'ru_pro100',
          LICENSE_TYPE: 'pro100',
          LICENSE_FAMILY: 'pro',
        });
      case 'imconnector.register':
        return this.#register(params);
      case 'imconnector.activate':
        return this.#activate(params);
      case 'imconnector.send.messages':
        return this.#sendMessages(params);
      case 'imconnector.send.status.delivery':
        return this.#delivery(params);
      case 'event.bind':
        return this.#bind(params);
      case 'event.get':
        return ok(this.handlers);
      case 'crm.lead.fields':
        return ok({
          ID: { type: 'integer', isRequired: false },
          TITLE: { type: 'string' },
          PHONE: { type: 'crm_multifield', isMultiple: true },
        });
      case 'crm.duplicate.findbycomm':
        return this.#findByComm(params);
      case 'crm.lead.add':
        return this.#add('LEAD', params);
      case 'crm.lead.get':
      case 'crm.contact.get':
        return this.#get(method.startsWith('crm.lead') ? 'LEAD' : 'CONTACT', params);
      case 'crm.lead.update':
      case 'crm.contact.update':
        return this.#update(method.startsWith('crm.lead') ? 'LEAD' : 'CONTACT', params);
      case 'crm.timeline.comment.add':
        return this.#comment(params);
      case 'user.get': {
        const start = Number(params.start ?? 0);
        const page = this.users.slice(start, start + 50);
        const next = start + 50 < this.users.length ? { next: start + 50 } : {};
        return ok(page, { ...next, total: this.users.length });
      }
      default:
        return fail(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
    }
  }

  #findByComm(params: Record<string, unknown>): FakeResponse {
    const type = params.type;
    if (type !== 'PHONE' && type !== 'EMAIL') return fail(400, '', 'Communication type is not defined.');
    const values = Array.isArray(params.values) ? params.values.map(String) : [];
    if (values.length === 0 || values.length > 20)
      return fail(400, '', 'Values are not defined or too many.');
    // Phones compare format-insensitively (8… and +7… are one number); emails case-insensitively.
    const norm = (v: string) =>
      type === 'PHONE' ? digitsOf(v).replace(/^8(\d{10})$/, '7$1') : v.trim().toLowerCase();
    const wanted = new Set(values.map(norm));
    const entityType = params.entity_type as string | undefined;
    const result: Record<string, number[]> = {};
    for (const e of this.entities.values()) {
      if (entityType && e.kind !== entityType) continue;
      if (!e[type].some((m) => wanted.has(norm(m.VALUE)))) continue;
      result[e.kind] = [...(result[e.kind] ?? []), Number(e.ID)];
    }
    return ok(Object.keys(result).length ? result : []);
  }

  #validMulti(kind: 'PHONE' | 'EMAIL', value: unknown): string | null {
    if (value === undefined) return null;
    if (!Array.isArray(value)) return `${kind} must be a list`;
    for (const item of value as Record<string, unknown>[]) {
      if (item.ID === undefined && (typeof item.VALUE !== 'string' || item.VALUE === ''))
        return `${kind} VALUE is empty`;
      const types = kind === 'PHONE' ? PHONE_TYPES : EMAIL_TYPES;
      if (item.VALUE_TYPE !== undefined && !types.includes(String(item.VALUE_TYPE)))
        return `${kind} VALUE_TYPE is invalid`;
    }
    return null;
  }

  #add(kind: 'LEAD' | 'CONTACT', params: Record<string, unknown>): FakeResponse {
    const fields = params.fields as Record<string, unknown> | undefined;
    if (!fields || typeof fields !== 'object') return fail(400, '', "Parameter 'fields' must be array.");
    const invalid = this.#validMulti('PHONE', fields.PHONE) ?? this.#validMulti('EMAIL', fields.EMAIL);
    if (invalid) return fail(400, '', invalid);
    const { PHONE, EMAIL, ...rest } = fields;
    const entity: BitrixFakeEntity = {
      ID: String(this.#nextId++),
      kind,
      fields: rest,
      PHONE: ((PHONE as Record<string, string>[] | undefined) ?? []).map((m) =>
        this.#multi('PHONE', m.VALUE!, m.VALUE_TYPE ?? 'WORK'),
      ),
      EMAIL: ((EMAIL as Record<string, string>[] | undefined) ?? []).map((m) =>
        this.#multi('EMAIL', m.VALUE!, m.VALUE_TYPE ?? 'WORK'),
      ),
      comments: [],
    };
    this.entities.set(entity.ID, entity);
    return ok(Number(entity.ID));
  }

  #entity(kind: 'LEAD' | 'CONTACT', id: unknown): BitrixFakeEntity | null {
    const entity = this.entities.get(String(id));
    return entity && entity.kind === kind ? entity : null;
  }

  #get(kind: 'LEAD' | 'CONTACT', params: Record<string, unknown>): FakeResponse {
    const entity = this.#entity(kind, params.id);
    if (!entity) return fail(400, '', 'Not found');
    return ok({
      ID: entity.ID,
      ...entity.fields,
      PHONE: entity.PHONE,
      EMAIL: entity.EMAIL,
      HAS_PHONE: entity.PHONE.length ? 'Y' : 'N',
    });
  }

  #update(kind: 'LEAD' | 'CONTACT', params: Record<string, unknown>): FakeResponse {
    const entity = this.#entity(kind, params.id);
    if (!entity) return fail(400, '', 'Not found');
    const fields = (params.fields ?? {}) as Record<string, unknown>;
    const invalid = this.#validMulti('PHONE', fields.PHONE) ?? this.#validMulti('EMAIL', fields.EMAIL);
    if (invalid) return fail(400, '', invalid);
    for (const type of ['PHONE', 'EMAIL'] as const) {
      for (const item of (fields[type] as Record<string, string>[] | undefined) ?? []) {
        if (item.ID === undefined)
          entity[type].push(this.#multi(type, item.VALUE!, item.VALUE_TYPE ?? 'WORK'));
        else if (!item.VALUE) entity[type] = entity[type].filter((m) => m.ID !== item.ID);
        else entity[type] = entity[type].map((m) => (m.ID === item.ID ? { ...m, VALUE: item.VALUE! } : m));
      }
    }
    const { PHONE: _p, EMAIL: _e, ...rest } = fields;
    Object.assign(entity.fields, rest);
    return ok(true);
  }

  #comment(params: Record<string, unknown>): FakeResponse {
    // The top-level key must be lowercase `fields` since crm 23.100.0 (crm-apis.md §2).
    const fields = params.fields as Record<string, unknown> | undefined;
    if (!fields) return fail(400, '', "Parameter 'fields' must be array.");
    const kind = String(fields.ENTITY_TYPE ?? '').toUpperCase();
    const entity = this.#entity(kind as 'LEAD' | 'CONTACT', fields.ENTITY_ID);
    if (!entity) return fail(400, '', 'Not found');
    if (typeof fields.COMMENT !== 'string' || fields.COMMENT === '') return fail(400, '', 'COMMENT is empty');
    entity.comments.push(fields.COMMENT);
    return ok(this.#nextMulti++);
  }

  #register(params: Record<string, unknown>): FakeResponse {
    const refuse = (error: string, description: string) =>
      ok({ result: false, error, error_description: description });
    const id = typeof params.ID === 'string' ? params.ID.toLowerCase() : '';
    if (!id) return refuse('CONNECTOR_ID_REQUIRED', 'Не указан ID коннектора');
    if (id.includes('.'))
      return refuse(
        'APPLICATION_REGISTRATION_ERROR_POINT',
        'Ошибка регистрации приложения. В идентификаторе коннектора недопустимо использовать точку',
      );
    if (typeof params.NAME !== 'string' || params.NAME === '')
      return refuse('NAME_REQUIRED', 'Не указано имя коннектора');
    const icon = params.ICON as Record<string, unknown> | undefined;
    if (typeof icon?.DATA_IMAGE !== 'string') return refuse('ICON_REQUIRED', 'Не указана иконка коннектора');
    if (typeof params.PLACEMENT_HANDLER !== 'string' || params.PLACEMENT_HANDLER === '')
      return refuse('NO_PLACEMENT_HANDLER', 'Не удалось получить URL обработчика встраивания');
    this.connectors.set(id, params);
    return ok({ result: true });
  }

  /** The `ERROR_ARGUMENT` answers of the imconnector methods for a missing CONNECTOR, LINE, ACTIVE or MESSAGES. */
  #missing(params: Record<string, unknown>, names: string[]): FakeResponse | null {
    for (const name of names) {
      const value = params[name];
      if (value === undefined || value === null || value === '')
        return fail(400, 'ERROR_ARGUMENT', `Argument '${name}' is null or empty`);
    }
    return null;
  }

  #activate(params: Record<string, unknown>): FakeResponse {
    const missing = this.#missing(params, ['CONNECTOR', 'LINE', 'ACTIVE']);
    if (missing) return missing;
    const connector = String(params.CONNECTOR).toLowerCase();
    const lines = this.activeLines.get(connector) ?? new Set<number>();
    // Any non-empty value other than "0" turns the connector on.
    if (String(params.ACTIVE) === '0') lines.delete(Number(params.LINE));
    else lines.add(Number(params.LINE));
    this.activeLines.set(connector, lines);
    return ok(true);
  }

  #lineActive(params: Record<string, unknown>): boolean {
    const connector = String(params.CONNECTOR).toLowerCase();
    return (
      this.connectors.has(connector) && (this.activeLines.get(connector)?.has(Number(params.LINE)) ?? false)
    );
  }

  #sendMessages(params: Record<string, unknown>): FakeResponse {
    const missing = this.#missing(params, ['CONNECTOR', 'LINE', 'MESSAGES']);
    if (missing) return missing;
    if (!Array.isArray(params.MESSAGES))
      return fail(400, 'ERROR_ARGUMENT', "The value of an argument 'MESSAGES' must be of type array");
    if (!this.#lineActive(params))
      return fail(400, 'NOT_ACTIVE_LINE', 'Линия c таким ID неактивна или не существует');
    const results: Record<string, unknown>[] = [];
    for (const raw of params.MESSAGES as Record<string, unknown>[]) {
      const { user, message, chat } = (raw ?? {}) as Record<string, Record<string, unknown> | undefined>;
      if (!user || !message || !chat)
        return fail(400, 'ERROR_ARGUMENT', 'The incorrect structure of a message inside MESSAGES parameter');
      const errors: string[] = [];
      if (typeof user.id !== 'string' || user.id === '') errors.push('user.id is required');
      if (typeof chat.id !== 'string' || chat.id === '') errors.push('chat.id is required');
      if (typeof message.text !== 'string' && !Array.isArray(message.files)) errors.push('text or files');
      for (const key of ['name', 'last_name'] as const) {
        const value = user[key];
        if (
          value !== undefined &&
          (typeof value !== 'string' || value.length > 25 || /[^\p{L}\s'-]/u.test(value))
        )
          errors.push(`user.${key} is invalid`);
      }
      if (errors.length) {
        results.push({ SUCCESS: false, ERRORS: errors });
        continue;
      }
      const userId = String(user.id);
      let imChatId = this.#imChats.get(userId);
      if (imChatId === undefined) {
        imChatId = 1800 + this.#imChats.size;
        this.#imChats.set(userId, imChatId);
      }
      this.openLineMessages.push({
        connector: String(params.CONNECTOR).toLowerCase(),
        line: Number(params.LINE),
        user,
        message,
        chat,
        imChatId,
      });
      results.push({
        user: String(500 + this.#imChats.size),
        message: { id: message.id, date: {}, text: message.text, files: [] },
        chat: { id: chat.id, name: chat.name ?? '', description: '' },
        extra: {},
        SUCCESS: true,
        session: { ID: String(300 + imChatId), CHAT_ID: String(imChatId) },
      });
    }
    return ok({ SUCCESS: results.every((r) => r.SUCCESS === true), DATA: { RESULT: results } });
  }

  #delivery(params: Record<string, unknown>): FakeResponse {
    const missing = this.#missing(params, ['CONNECTOR', 'LINE', 'MESSAGES']);
    if (missing) return missing;
    if (!this.connectors.has(String(params.CONNECTOR).toLowerCase()))
      return fail(
        400,
        'IMCONNECTOR_NO_CORRECT_PROVIDER',
        'Не удалось найти подходящий провайдер для коннектора',
      );
    for (const item of params.MESSAGES as Record<string, unknown>[]) this.deliveries.push(item);
    return ok({ SUCCESS: true, DATA: [] });
  }

  #bind(params: Record<string, unknown>): FakeResponse {
    const event = String(params.event ?? '').toUpperCase();
    const handler = String(params.handler ?? '');
    if (!KNOWN_EVENTS.includes(event)) return fail(400, 'ERROR_EVENT_NOT_FOUND', 'Event not found');
    if (!handler) return fail(400, 'ERROR_CORE', 'Handler is required');
    if (this.handlers.some((h) => h.event === event && h.handler === handler))
      return fail(400, 'ERROR_CORE', 'Handler already binded');
    this.handlers.push({ event, handler, auth_type: '0', offline: 0 });
    return ok(true);
  }

  /**
   * An operator's reply in the Open Line as Bitrix24 posts it to the bound handler: form-encoded, with
   * the operator's fresh access token and the app's application_token in `auth`
   * (on-im-connector-message-add.md). The chat is the one the visitor's messages created.
   */
  operatorReply(options: {
    chatId: string;
    text: string;
    userId?: string;
    line?: number;
    applicationToken?: string;
    accessToken?: string;
  }): { body: string; imChatId: number; imMessageId: number } {
    const sent = [...this.openLineMessages].reverse().find((m) => m.chat.id === options.chatId);
    const imChatId = sent?.imChatId ?? 1799;
    const imMessageId = this.#nextIm++;
    const line = options.line ?? sent?.line ?? 1;
    const body = new URLSearchParams({
      event: 'ONIMCONNECTORMESSAGEADD',
      event_handler_id: '555',
      'data[CONNECTOR]': sent?.connector ?? 'omnitalk',
      'data[LINE]': String(line),
      'data[MESSAGES][0][im][chat_id]': String(imChatId),
      'data[MESSAGES][0][im][message_id]': String(imMessageId),
      'data[MESSAGES][0][message][user_id]': options.userId ?? '27',
      'data[MESSAGES][0][message][text]': options.text,
      'data[MESSAGES][0][chat][id]': options.chatId,
      ts: String(Math.floor(Date.now() / 1000)),
      'auth[access_token]': options.accessToken ?? this.issueTokens().accessToken,
      'auth[expires_in]': '3600',
      'auth[scope]': 'imconnector,imopenlines',
      'auth[domain]': 'example.bitrix24.ru',
      'auth[server_endpoint]': 'https://oauth.bitrix24.tech/rest/',
      'auth[status]': 'L',
      'auth[client_endpoint]': 'https://example.bitrix24.ru/rest/',
      'auth[member_id]': this.memberId,
      'auth[user_id]': options.userId ?? '27',
      'auth[application_token]': options.applicationToken ?? this.applicationToken,
    });
    return { body: body.toString(), imChatId, imMessageId };
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
