import { randomBytes } from 'node:crypto';
import {
  digitsOf,
  FakeHttpServer,
  type FakeResponse,
  type RecordedRequest,
  route,
  router,
} from './crm-server.ts';

/**
 * A fake amoCRM account: OAuth2 token endpoint and the part of API v4 the connector uses, with amoCRM's
 * paths, fields and answers. Relied on (besides crm-apis.md §1), from the amoCRM docs mirrored in
 * biradrags/amo-docs (amocrm_docs_md/…):
 * - crm_platform/account-info.md: GET /api/v4/account → {id, name, subdomain, …}.
 * - crm_platform/contacts-api.md: GET /api/v4/contacts/{id} answers 204 for a missing contact; POST
 *   answers `_embedded.contacts[{id, request_id}]`; PATCH /api/v4/contacts/{id} takes one object.
 * - crm_platform/users-api.md: GET /api/v4/users (page, limit ≤ 250) → `_embedded.users[{id, name,
 *   email, rights.is_active}]`, `_links.next` while more pages exist.
 * - crm_platform/events-and-notes.md: GET /api/v4/contacts/{id}/notes (page, limit ≤ 250,
 *   filter[note_type], order[id]) → `_embedded.notes[{id, entity_id, note_type, params.text}]`,
 *   `_links.next` while more pages exist; 204 for an empty list (as the other lists answer).
 * - crm_platform/error-codes.md: validation → 400 `{validation-errors:[{request_id, errors:[{code, path,
 *   detail}]}], title, type, status, detail}`; 429 on too many requests; 204 for an empty search.
 * - oauth/step-by-step.md: POST /oauth2/access_token (JSON) for both grants, 400 on bad data; the same
 *   contract in Kommo's reference (developers.kommo.com/reference/get-token): body client_id,
 *   client_secret, grant_type authorization_code|refresh_token, code|refresh_token, redirect_uri; answer
 *   token_type, expires_in, server_time, access_token, refresh_token.
 * The body of a 400 from /oauth2/access_token (`hint` "Token has been revoked") follows what
 * amocrm-api-php issue #123 quotes; the full-text search model (substring of any field, digit-wise for
 * phones) is our approximation of "search by filled fields".
 */

export interface AmoFakeContact {
  id: number;
  name: string;
  first_name: string;
  last_name: string;
  responsible_user_id: number;
  custom_fields_values:
    | {
        field_id: number;
        field_code: string;
        values: { value: string; enum_id?: number; enum_code?: string }[];
      }[]
    | null;
  notes: { id: number; note_type: string; text: string }[];
}

export interface AmoFakeOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  accessTtlSec?: number;
}

const PHONE_ENUMS = ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'];
const EMAIL_ENUMS = ['WORK', 'PRIV', 'OTHER'];
const FIELD_IDS: Record<string, number> = { PHONE: 3, EMAIL: 5 };

const problem = (
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): FakeResponse => ({
  status,
  headers: { 'content-type': 'application/problem+json' },
  body: { title, type: `https://httpstatus.es/${status}`, status, detail, ...extra },
});

const hal = (body: unknown): FakeResponse => ({
  status: 200,
  headers: { 'content-type': 'application/hal+json' },
  body,
});

export class AmoCrmFake {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  readonly contacts = new Map<number, AmoFakeContact>();
  readonly users = [
    { id: 504141, name: 'Анна Менеджер', email: 'anna@example.com', rights: { is_active: true } },
    { id: 504142, name: 'Борис Продавец', email: 'boris@example.com', rights: { is_active: true } },
    { id: 504143, name: 'Уволенный', email: 'old@example.com', rights: { is_active: false } },
  ];
  readonly #codes = new Set<string>();
  readonly #access = new Map<string, { expiresAt: number }>();
  readonly #refresh = new Set<string>();
  readonly #accessTtlSec: number;
  #nextId = 7_000_000;
  #nextNote = 1;

  private constructor(
    readonly server: FakeHttpServer,
    options: AmoFakeOptions,
  ) {
    this.clientId = options.clientId ?? 'a1b2c3d4-0000-4000-8000-integration01';
    this.clientSecret = options.clientSecret ?? 'amo-secret-key';
    this.redirectUri = options.redirectUri ?? 'https://omnitalk.example/crm/amocrm/redirect';
    this.#accessTtlSec = options.accessTtlSec ?? 86_400;
  }

  static async start(options: AmoFakeOptions = {}): Promise<AmoCrmFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new AmoCrmFake(server, options);
    server.setHandler(fake.#routes());
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  /** An authorization code, as amoCRM puts in the redirect after "Разрешить". */
  issueCode(): string {
    const code = `code-${randomBytes(8).toString('hex')}`;
    this.#codes.add(code);
    return code;
  }

  /** A token pair as if access had been granted earlier. */
  issueTokens(): { accessToken: string; refreshToken: string; expiresAt: number } {
    const accessToken = `access-${randomBytes(12).toString('hex')}`;
    const refreshToken = `refresh-${randomBytes(12).toString('hex')}`;
    const expiresAt = Date.now() + this.#accessTtlSec * 1000;
    this.#access.set(accessToken, { expiresAt });
    this.#refresh.add(refreshToken);
    return { accessToken, refreshToken, expiresAt };
  }

  /** Every access token issued so far stops working (expired or revoked early); refresh tokens stay. */
  expireAccessTokens(): void {
    for (const token of this.#access.values()) token.expiresAt = 0;
  }

  revokeRefreshTokens(): void {
    this.#refresh.clear();
  }

  seedContact(data: { name: string; phones?: string[]; emails?: string[] }): AmoFakeContact {
    const fields: AmoFakeContact['custom_fields_values'] = [];
    if (data.phones?.length) {
      fields.push({
        field_id: 3,
        field_code: 'PHONE',
        values: data.phones.map((value) => ({ value, enum_id: 1, enum_code: 'WORK' })),
      });
    }
    if (data.emails?.length) {
      fields.push({
        field_id: 5,
        field_code: 'EMAIL',
        values: data.emails.map((value) => ({ value, enum_id: 11, enum_code: 'WORK' })),
      });
    }
    const contact: AmoFakeContact = {
      id: this.#nextId++,
      name: data.name,
      first_name: '',
      last_name: '',
      responsible_user_id: 504141,
      custom_fields_values: fields.length ? fields : null,
      notes: [],
    };
    this.contacts.set(contact.id, contact);
    return contact;
  }

  #authorized(request: RecordedRequest): FakeResponse | null {
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const entry = this.#access.get(token);
    if (!entry || entry.expiresAt <= Date.now()) {
      return problem(401, 'Unauthorized', 'Unauthorized', { response: { error_code: 110 } });
    }
    return null;
  }

  #api(handler: (request: RecordedRequest, params: Record<string, string>) => FakeResponse) {
    return (request: RecordedRequest, params: Record<string, string>) =>
      this.#authorized(request) ?? handler(request, params);
  }

  #token(request: RecordedRequest): FakeResponse {
    const body = (request.json ?? {}) as Record<string, string>;
    const badRequest = (hint: string) =>
      problem(400, 'Bad Request', 'В запросе отсутствует ряд параметров или параметры невалидны', { hint });
    if (body.client_id !== this.clientId || body.client_secret !== this.clientSecret)
      return badRequest('Client authentication failed');
    if (body.redirect_uri !== this.redirectUri) return badRequest('Redirect URI mismatch');
    if (body.grant_type === 'authorization_code') {
      if (!this.#codes.delete(body.code ?? '')) return badRequest('Authorization code has been revoked');
    } else if (body.grant_type === 'refresh_token') {
      // Single-use refresh tokens: the old one is spent by the first refresh.
      if (!this.#refresh.delete(body.refresh_token ?? '')) return badRequest('Token has been revoked');
    } else {
      return badRequest('The authorization grant type is not supported by the authorization server.');
    }
    const pair = this.issueTokens();
    return {
      status: 200,
      body: {
        token_type: 'Bearer',
        expires_in: this.#accessTtlSec,
        server_time: Math.floor(Date.now() / 1000),
        access_token: pair.accessToken,
        refresh_token: pair.refreshToken,
      },
    };
  }

  #validateFields(fields: unknown, index: number): { code: string; path: string; detail: string } | null {
    if (fields === undefined || fields === null) return null;
    if (!Array.isArray(fields))
      return {
        code: 'InvalidType',
        path: 'custom_fields_values',
        detail: 'This value should be of type array.',
      };
    for (const [i, f] of fields.entries()) {
      const code = (f as { field_code?: string }).field_code;
      if (code !== 'PHONE' && code !== 'EMAIL') {
        return {
          code: 'NotSupportedChoice',
          path: `custom_fields_values.${i}.field_code`,
          detail: 'The value you selected is not a valid choice.',
        };
      }
      const values = (f as { values?: unknown }).values;
      if (!Array.isArray(values) || values.length === 0) {
        return {
          code: 'NotBlank',
          path: `custom_fields_values.${i}.values`,
          detail: 'This value should not be blank.',
        };
      }
      for (const [j, v] of values.entries()) {
        const value = (v as { value?: unknown }).value;
        const enumCode = (v as { enum_code?: unknown }).enum_code;
        if (typeof value !== 'string' || value === '') {
          return {
            code: 'NotBlank',
            path: `custom_fields_values.${i}.values.${j}.value`,
            detail: 'This value should not be blank.',
          };
        }
        const enums = code === 'PHONE' ? PHONE_ENUMS : EMAIL_ENUMS;
        if (enumCode !== undefined && !enums.includes(String(enumCode))) {
          return {
            code: 'NotSupportedChoice',
            path: `custom_fields_values.${i}.values.${j}.enum_code`,
            detail: 'The value you selected is not a valid choice.',
          };
        }
      }
    }
    void index;
    return null;
  }

  #storeFields(fields: unknown): AmoFakeContact['custom_fields_values'] {
    if (!Array.isArray(fields) || fields.length === 0) return null;
    return fields.map(
      (f: { field_code: string; values: { value: string; enum_id?: number; enum_code?: string }[] }) => ({
        field_id: FIELD_IDS[f.field_code]!,
        field_code: f.field_code,
        values: f.values.map((v) => ({
          value: v.value,
          enum_id: v.enum_id ?? 1,
          enum_code: v.enum_code ?? 'WORK',
        })),
      }),
    );
  }

  #matches(contact: AmoFakeContact, query: string): boolean {
    const q = query.toLowerCase();
    const texts = [
      contact.name,
      ...(contact.custom_fields_values ?? []).flatMap((f) => f.values.map((v) => v.value)),
    ];
    if (texts.some((t) => t.toLowerCase().includes(q))) return true;
    const digits = digitsOf(query);
    return digits.length >= 5 && texts.some((t) => digitsOf(t).includes(digits));
  }

  #view(contact: AmoFakeContact) {
    const { notes: _notes, ...rest } = contact;
    return { ...rest, _links: { self: { href: `${this.url}/api/v4/contacts/${contact.id}` } } };
  }

  #routes() {
    return router(
      [
        route('POST', '/oauth2/access_token', (r) => this.#token(r)),
        route(
          'GET',
          '/api/v4/account',
          this.#api(() =>
            hal({ id: 28805383, name: 'Тестовый аккаунт', subdomain: 'example', country: 'RU' }),
          ),
        ),
        route(
          'GET',
          '/api/v4/contacts',
          this.#api((r) => {
            const query = r.query.get('query') ?? '';
            const limit = Math.min(Number(r.query.get('limit') ?? 50), 250);
            const found = [...this.contacts.values()]
              .filter((c) => query === '' || this.#matches(c, query))
              .slice(0, limit);
            if (found.length === 0) return { status: 204 };
            return hal({ _page: 1, _embedded: { contacts: found.map((c) => this.#view(c)) } });
          }),
        ),
        route(
          'GET',
          '/api/v4/contacts/:id',
          this.#api((_r, p) => {
            const contact = this.contacts.get(Number(p.id));
            return contact ? hal(this.#view(contact)) : { status: 204 };
          }),
        ),
        route(
          'POST',
          '/api/v4/contacts',
          this.#api((r) => {
            if (!Array.isArray(r.json)) return problem(400, 'Bad Request', 'Request validation failed');
            const errors = r.json.flatMap((c, i) => {
              const error = this.#validateFields(
                (c as { custom_fields_values?: unknown }).custom_fields_values,
                i,
              );
              return error
                ? [{ request_id: String((c as { request_id?: string }).request_id ?? i), errors: [error] }]
                : [];
            });
            if (errors.length)
              return problem(400, 'Bad Request', 'Request validation failed', {
                'validation-errors': errors,
              });
            const created = r.json.map((c: Record<string, unknown>, i) => {
              const contact: AmoFakeContact = {
                id: this.#nextId++,
                name: String(c.name ?? ''),
                first_name: String(c.first_name ?? ''),
                last_name: String(c.last_name ?? ''),
                responsible_user_id: Number(c.responsible_user_id ?? 504141),
                custom_fields_values: this.#storeFields(c.custom_fields_values),
                notes: [],
              };
              this.contacts.set(contact.id, contact);
              return { id: contact.id, request_id: String(c.request_id ?? i), _links: {} };
            });
            return hal({ _links: {}, _embedded: { contacts: created } });
          }),
        ),
        route(
          'PATCH',
          '/api/v4/contacts/:id',
          this.#api((r, p) => {
            const contact = this.contacts.get(Number(p.id));
            if (!contact) return problem(404, 'Not Found', 'Contact not found');
            const body = (r.json ?? {}) as Record<string, unknown>;
            const error = this.#validateFields(body.custom_fields_values, 0);
            if (error)
              return problem(400, 'Bad Request', 'Request validation failed', {
                'validation-errors': [{ request_id: '0', errors: [error] }],
              });
            if (typeof body.name === 'string') contact.name = body.name;
            if (typeof body.first_name === 'string') contact.first_name = body.first_name;
            if (typeof body.last_name === 'string') contact.last_name = body.last_name;
            if (Array.isArray(body.custom_fields_values)) {
              // A field sent replaces that field's values; fields not sent stay.
              const next = [...(contact.custom_fields_values ?? [])];
              for (const f of this.#storeFields(body.custom_fields_values) ?? []) {
                const at = next.findIndex((x) => x.field_code === f.field_code);
                if (at >= 0) next[at] = f;
                else next.push(f);
              }
              contact.custom_fields_values = next;
            }
            return hal({ id: contact.id, name: contact.name, updated_at: Math.floor(Date.now() / 1000) });
          }),
        ),
        route(
          'POST',
          '/api/v4/contacts/:id/notes',
          this.#api((r, p) => {
            const contact = this.contacts.get(Number(p.id));
            if (!contact) return problem(404, 'Not Found', 'Entity not found');
            if (!Array.isArray(r.json)) return problem(400, 'Bad Request', 'Request validation failed');
            const notes = [];
            for (const [i, n] of r.json.entries()) {
              const note = n as { note_type?: string; params?: { text?: unknown } };
              if (note.note_type !== 'common' || typeof note.params?.text !== 'string') {
                return problem(400, 'Bad Request', 'Request validation failed', {
                  'validation-errors': [
                    {
                      request_id: String(i),
                      errors: [
                        {
                          code: 'NotSupportedChoice',
                          path: 'note_type',
                          detail: 'The value you selected is not a valid choice.',
                        },
                      ],
                    },
                  ],
                });
              }
              const id = this.#nextNote++;
              contact.notes.push({ id, note_type: note.note_type, text: note.params.text });
              notes.push({ id, entity_id: contact.id, request_id: String(i) });
            }
            return hal({ _embedded: { notes } });
          }),
        ),
        route(
          'GET',
          '/api/v4/contacts/:id/notes',
          this.#api((r, p) => {
            const contact = this.contacts.get(Number(p.id));
            if (!contact) return problem(404, 'Not Found', 'Entity not found');
            const page = Number(r.query.get('page') ?? 1);
            const limit = Math.min(Number(r.query.get('limit') ?? 50), 250);
            const type = r.query.get('filter[note_type]');
            const order = r.query.get('order[id]') ?? 'asc';
            const all = contact.notes
              .filter((n) => !type || n.note_type === type)
              .sort((a, b) => (order === 'desc' ? b.id - a.id : a.id - b.id));
            const slice = all.slice((page - 1) * limit, page * limit);
            if (slice.length === 0) return { status: 204 };
            const href = (n: number) =>
              `${this.url}/api/v4/contacts/${contact.id}/notes?page=${n}&limit=${limit}`;
            return hal({
              _page: page,
              _links: {
                self: { href: href(page) },
                ...(page * limit < all.length ? { next: { href: href(page + 1) } } : {}),
              },
              _embedded: {
                notes: slice.map((n) => ({
                  id: n.id,
                  entity_id: contact.id,
                  note_type: n.note_type,
                  params: { text: n.text },
                })),
              },
            });
          }),
        ),
        route(
          'GET',
          '/api/v4/users',
          this.#api((r) => {
            const page = Number(r.query.get('page') ?? 1);
            const limit = Math.min(Number(r.query.get('limit') ?? 50), 250);
            const slice = this.users.slice((page - 1) * limit, page * limit);
            const more = page * limit < this.users.length;
            return hal({
              _total_items: this.users.length,
              _page: page,
              _links: {
                self: { href: `${this.url}/api/v4/users?page=${page}` },
                ...(more ? { next: { href: `${this.url}/api/v4/users?page=${page + 1}` } } : {}),
              },
              _embedded: { users: slice },
            });
          }),
        ),
      ],
      () => problem(404, 'Not Found', 'Method not found'),
    );
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
