import {
  digitsOf,
  FakeHttpServer,
  type FakeResponse,
  type RecordedRequest,
  route,
  router,
} from './crm-server.ts';

/**
 * A fake RetailCRM (Simla.com) account, API v5. Relied on, besides crm-apis.md §3:
 * - retailcrm/api-client-go client.go: `X-API-KEY` header, `/api/credentials` without a version,
 *   POST bodies `application/x-www-form-urlencoded` with JSON-encoded `customer` / `note` fields, the
 *   `site` field on writes; error_test.go: `{success: false, errorMsg, errors}` with `errors` a map or a
 *   list, and the texts `Wrong "apiKey" value.` and `"apiKey" is missing.`.
 * - retailcrm/api-client-php Methods/V3/Customers.php: GET /customers/{id}?by=id,
 *   POST /customers/{id}/edit with `by`.
 * - api-client-go filters.go NotesFilter and client_test.go TestClient_NotesNotes: GET /customers/notes
 *   with `filter[customerIds][]`, `page`, `limit`, answering `{success, pagination, notes: [{id, text,
 *   customer, managerId}]}` (newest first here — the real order is not documented).
 * HTTP statuses of the auth errors (403) and of "not found" (404) are assumptions; so is 503 for the
 * rate limit (crm-apis.md marks it UNCONFIRMED). Phone search through filter[name] matches digits of
 * the stored numbers as a substring — our model of "search by full name or phone".
 */

export interface RetailFakeCustomer {
  id: number;
  site: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  phones: { number: string }[];
  managerId?: number;
  notes: { id: number; text: string; managerId?: number }[];
  /** The record's fields after each create or edit that changed it, oldest first. */
  history: { firstName?: string; lastName?: string; email?: string; phones: string[] }[];
}

const fail = (status: number, errorMsg: string, errors?: unknown): FakeResponse => ({
  status,
  body: { success: false, errorMsg, ...(errors ? { errors } : {}) },
});
const ok = (body: Record<string, unknown>, status = 200): FakeResponse => ({
  status,
  body: { success: true, ...body },
});

export class RetailCrmFake {
  readonly apiKey = 'rc-api-key-0123456789';
  readonly sites = ['main'];
  credentials = [
    '/api/v5/customers',
    '/api/v5/customers/create',
    '/api/v5/customers/{externalId}/edit',
    '/api/v5/customers/notes/create',
    '/api/v5/customers/notes',
    '/api/v5/users',
  ];
  readonly customers = new Map<number, RetailFakeCustomer>();
  readonly users = Array.from({ length: 3 }, (_, i) => ({
    id: 11 + i,
    firstName: ['Анна', 'Борис', 'Вера'][i],
    lastName: 'Менеджер',
    email: `user${i}@example.com`,
    active: i !== 2,
    isManager: true,
  }));
  #nextId = 500;
  #nextNote = 1;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<RetailCrmFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new RetailCrmFake(server);
    server.setHandler(fake.#routes());
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  seed(data: { name: string; phones: string[]; emails: string[] }): RetailFakeCustomer {
    const customer: RetailFakeCustomer = {
      id: this.#nextId++,
      site: 'main',
      firstName: data.name,
      ...(data.emails[0] ? { email: data.emails[0] } : {}),
      phones: data.phones.map((number) => ({ number })),
      notes: [],
      history: [],
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  #auth(request: RecordedRequest): FakeResponse | null {
    const key = request.headers['x-api-key'] ?? request.query.get('apiKey') ?? request.form.get('apiKey');
    if (!key) return fail(403, '"apiKey" is missing.');
    if (key !== this.apiKey) return fail(403, 'Wrong "apiKey" value.');
    return null;
  }

  #guard(handler: (r: RecordedRequest, p: Record<string, string>) => FakeResponse) {
    return (r: RecordedRequest, p: Record<string, string>) => this.#auth(r) ?? handler(r, p);
  }

  /** A JSON-encoded form field, or the error RetailCRM answers when it is missing or broken. */
  #json(
    request: RecordedRequest,
    field: string,
  ): { value: Record<string, unknown> } | { error: FakeResponse } {
    if (!/x-www-form-urlencoded/.test(request.headers['content-type'] ?? '')) {
      return { error: fail(400, `Parameter '${field}' is missing`) };
    }
    const raw = request.form.get(field);
    if (!raw) return { error: fail(400, `Parameter '${field}' is missing`) };
    try {
      return { value: JSON.parse(raw) as Record<string, unknown> };
    } catch {
      return { error: fail(400, `Parameter '${field}' is not valid JSON`) };
    }
  }

  #site(request: RecordedRequest): string | FakeResponse {
    const site = request.form.get('site') ?? request.query.get('site');
    if (site && !this.sites.includes(site)) return fail(403, 'Access denied.');
    if (!site && this.sites.length > 1) return fail(400, "Parameter 'site' is missing");
    return site ?? this.sites[0]!;
  }

  #view(c: RetailFakeCustomer) {
    const { notes: _notes, history: _history, ...rest } = c;
    return rest;
  }

  #remember(c: RetailFakeCustomer): void {
    c.history.push({
      ...(c.firstName !== undefined ? { firstName: c.firstName } : {}),
      ...(c.lastName !== undefined ? { lastName: c.lastName } : {}),
      ...(c.email !== undefined ? { email: c.email } : {}),
      phones: c.phones.map((p) => p.number),
    });
  }

  #routes() {
    return router(
      [
        route(
          'GET',
          '/api/credentials',
          this.#guard(() =>
            ok({ credentials: this.credentials, siteAccess: 'access_selective', sitesAvailable: this.sites }),
          ),
        ),
        route(
          'GET',
          '/api/v5/customers',
          this.#guard((r) => {
            const limit = Number(r.query.get('limit') ?? 20);
            if (![20, 50, 100].includes(limit)) {
              return fail(400, 'Errors in the input parameters', {
                limit: 'This value should be 20, 50 or 100.',
              });
            }
            const name = r.query.get('filter[name]');
            const email = r.query.get('filter[email]');
            const found = [...this.customers.values()].filter((c) => {
              if (email && !(c.email ?? '').toLowerCase().includes(email.toLowerCase())) return false;
              if (name) {
                const full = `${c.firstName ?? ''} ${c.lastName ?? ''}`.toLowerCase();
                const digits = digitsOf(name);
                const byPhone =
                  digits.length >= 5 && c.phones.some((p) => digitsOf(p.number).includes(digits));
                if (!full.includes(name.toLowerCase()) && !byPhone) return false;
              }
              return true;
            });
            return ok({
              pagination: { limit, totalCount: found.length, currentPage: 1, totalPageCount: 1 },
              customers: found.slice(0, limit).map((c) => this.#view(c)),
            });
          }),
        ),
        route(
          'POST',
          '/api/v5/customers/create',
          this.#guard((r) => {
            const customer = this.#json(r, 'customer');
            if ('error' in customer) return customer.error;
            const site = this.#site(r);
            if (typeof site !== 'string') return site;
            const c = customer.value;
            if (c.phones !== undefined && !Array.isArray(c.phones)) {
              return fail(400, 'Errors in the entity format', {
                phones: 'This value should be of type array.',
              });
            }
            const created: RetailFakeCustomer = {
              id: this.#nextId++,
              site,
              ...(typeof c.firstName === 'string' ? { firstName: c.firstName } : {}),
              ...(typeof c.lastName === 'string' ? { lastName: c.lastName } : {}),
              ...(typeof c.email === 'string' ? { email: c.email } : {}),
              ...(typeof c.managerId === 'number' ? { managerId: c.managerId } : {}),
              phones: ((c.phones as { number: string }[] | undefined) ?? []).map((p) => ({
                number: p.number,
              })),
              notes: [],
              history: [],
            };
            this.#remember(created);
            this.customers.set(created.id, created);
            return ok({ id: created.id }, 201);
          }),
        ),
        // Before /customers/:id, which would take "notes" for an id.
        route(
          'GET',
          '/api/v5/customers/notes',
          this.#guard((r) => {
            const limit = Number(r.query.get('limit') ?? 20);
            if (![20, 50, 100].includes(limit)) {
              return fail(400, 'Errors in the input parameters', {
                limit: 'This value should be 20, 50 or 100.',
              });
            }
            const page = Number(r.query.get('page') ?? 1);
            const ids = new Set(r.query.getAll('filter[customerIds][]').map(Number));
            const all = [...this.customers.values()]
              .filter((c) => ids.size === 0 || ids.has(c.id))
              .flatMap((c) =>
                c.notes.map((n) => ({
                  id: n.id,
                  text: n.text,
                  customer: { id: c.id, site: c.site },
                  ...(n.managerId ? { managerId: n.managerId } : {}),
                })),
              )
              .sort((a, b) => b.id - a.id);
            return ok({
              pagination: {
                limit,
                totalCount: all.length,
                currentPage: page,
                totalPageCount: Math.max(1, Math.ceil(all.length / limit)),
              },
              notes: all.slice((page - 1) * limit, page * limit),
            });
          }),
        ),
        route(
          'GET',
          '/api/v5/customers/:id',
          this.#guard((r, p) => {
            if (r.query.get('by') !== 'id') return fail(404, 'Not found');
            const c = this.customers.get(Number(p.id));
            return c ? ok({ customer: this.#view(c) }) : fail(404, 'Not found');
          }),
        ),
        route(
          'POST',
          '/api/v5/customers/:id/edit',
          this.#guard((r, p) => {
            if (r.form.get('by') !== 'id') return fail(404, 'Not found');
            const c = this.customers.get(Number(p.id));
            if (!c) return fail(404, 'Not found');
            const patch = this.#json(r, 'customer');
            if ('error' in patch) return patch.error;
            const data = patch.value;
            if (Array.isArray(data.phones))
              c.phones = (data.phones as { number: string }[]).map((x) => ({ number: x.number }));
            for (const key of ['firstName', 'lastName', 'email'] as const) {
              if (typeof data[key] === 'string') c[key] = data[key] as string;
            }
            this.#remember(c);
            return ok({ id: c.id });
          }),
        ),
        route(
          'POST',
          '/api/v5/customers/notes/create',
          this.#guard((r) => {
            const note = this.#json(r, 'note');
            if ('error' in note) return note.error;
            const n = note.value as { customer?: { id?: number }; text?: unknown; managerId?: number };
            const c = this.customers.get(Number(n.customer?.id));
            if (!c) return fail(400, 'Errors in the entity format', { customer: 'Customer not found' });
            if (typeof n.text !== 'string' || n.text === '')
              return fail(400, 'Errors in the entity format', { text: 'This value should not be blank.' });
            const id = this.#nextNote++;
            c.notes.push({ id, text: n.text, ...(n.managerId ? { managerId: n.managerId } : {}) });
            return ok({ id }, 201);
          }),
        ),
        route(
          'GET',
          '/api/v5/users',
          this.#guard((r) => {
            const limit = Number(r.query.get('limit') ?? 20);
            const page = Number(r.query.get('page') ?? 1);
            return ok({
              pagination: {
                limit,
                totalCount: this.users.length,
                currentPage: page,
                totalPageCount: Math.ceil(this.users.length / limit),
              },
              users: this.users.slice((page - 1) * limit, page * limit),
            });
          }),
        ),
      ],
      () => fail(404, 'API method not found'),
    );
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
