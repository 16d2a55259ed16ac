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
 * A fake AlfaCRM (API v2). Relied on, besides crm-apis.md §8, from mircicn/aioalfacrm: login
 * `POST /v2api/auth/login {email, api_key}` → `{token}` and the `X-ALFACRM-TOKEN` header
 * (core/auth.py); every call a POST to `/v2api/{branch}/{object}/{method}`, lists `{page, …filters}`
 * with `per-page` in the query answering `{total, count, page, items}`, one record by `index {id}`,
 * update with `?id=` answering `{model}` (core/entity_manager.py); communications with
 * `?class=&related_id=` (managers/communication.py).
 * Assumptions: the 401 body (Yii2's `{name, message, code, status}` — AlfaCRM is a Yii application),
 * the customer filters `phone` (digits, contains) and `email`, employees' `email` as a list, and the
 * token lifetime enforced here only through `expireTokens()`.
 */

export interface AlfaFakeCustomer {
  id: number;
  name: string;
  branch_ids: number[];
  is_study: number;
  legal_type: number;
  phone: string[];
  email: string[];
  note: string;
  assigned_id: number | null;
  communications: { type_id: number; comment: string }[];
}

const unauthorized: FakeResponse = {
  status: 401,
  body: {
    name: 'Unauthorized',
    message: 'Your request was made with invalid credentials.',
    code: 0,
    status: 401,
  },
};

export class AlfaCrmFake {
  readonly email = 'admin@school.example';
  readonly apiKey = 'alfa-api-key-42';
  readonly branches = [
    { id: 1, name: 'Главный филиал', is_active: 1 },
    { id: 2, name: 'Закрытый филиал', is_active: 0 },
  ];
  readonly customers = new Map<number, AlfaFakeCustomer>();
  readonly employees = [
    { id: 3, name: 'Анна Администратор', email: ['anna@school.example'], is_active: 1 },
    { id: 4, name: 'Борис Менеджер', email: ['boris@school.example'], is_active: 1 },
  ];
  readonly #tokens = new Set<string>();
  #nextId = 500;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<AlfaCrmFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new AlfaCrmFake(server);
    server.setHandler(fake.#routes());
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  issueToken(): string {
    const token = randomBytes(12).toString('hex');
    this.#tokens.add(token);
    return token;
  }

  /** Every session token stops working, as after its ~15 minutes. */
  expireTokens(): void {
    this.#tokens.clear();
  }

  seed(data: { name: string; phones: string[]; emails: string[] }): AlfaFakeCustomer {
    const customer: AlfaFakeCustomer = {
      id: this.#nextId++,
      name: data.name,
      branch_ids: [1],
      is_study: 1,
      legal_type: 1,
      phone: data.phones,
      email: data.emails,
      note: '',
      assigned_id: null,
      communications: [],
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  #auth(handler: (r: RecordedRequest, p: Record<string, string>) => FakeResponse) {
    return (r: RecordedRequest, p: Record<string, string>) => {
      const token = r.headers['x-alfacrm-token'];
      if (typeof token !== 'string' || !this.#tokens.has(token)) return unauthorized;
      if (p.branch !== undefined && !this.branches.some((b) => String(b.id) === p.branch)) {
        return {
          status: 404,
          body: { name: 'Not Found', message: 'Branch not found', code: 0, status: 404 },
        };
      }
      return handler(r, p);
    };
  }

  #list<T>(items: T[], r: RecordedRequest): FakeResponse {
    const perPage = Number(r.query.get('per-page') ?? 20);
    const page = Number((r.json as { page?: number } | undefined)?.page ?? 0);
    const slice = items.slice(page * perPage, (page + 1) * perPage);
    return { status: 200, body: { total: items.length, count: slice.length, page, items: slice } };
  }

  #view(c: AlfaFakeCustomer) {
    const { communications: _c, ...rest } = c;
    return rest;
  }

  #routes() {
    return router(
      [
        route('POST', '/v2api/auth/login', (r) => {
          const body = (r.json ?? {}) as { email?: string; api_key?: string };
          if (body.email !== this.email || body.api_key !== this.apiKey) return unauthorized;
          return { status: 200, body: { token: this.issueToken() } };
        }),
        route(
          'POST',
          '/v2api/branch/index',
          this.#auth((r) => this.#list(this.branches, r)),
        ),
        route(
          'POST',
          '/v2api/:branch/customer/index',
          this.#auth((r) => {
            const f = (r.json ?? {}) as { id?: number; phone?: string; email?: string };
            const found = [...this.customers.values()].filter(
              (c) =>
                (f.id === undefined || c.id === f.id) &&
                (f.phone === undefined || c.phone.some((p) => digitsOf(p).includes(digitsOf(f.phone!)))) &&
                (f.email === undefined ||
                  c.email.some((e) => e.toLowerCase().includes(f.email!.toLowerCase()))),
            );
            return this.#list(
              found.map((c) => this.#view(c)),
              r,
            );
          }),
        ),
        route(
          'POST',
          '/v2api/:branch/customer/create',
          this.#auth((r) => {
            const b = (r.json ?? {}) as Partial<AlfaFakeCustomer>;
            const errors: Record<string, string[]> = {};
            if (!b.name) errors.name = ['Необходимо заполнить «Имя».'];
            if (!Array.isArray(b.branch_ids) || b.branch_ids.length === 0)
              errors.branch_ids = ['Необходимо заполнить «Филиалы».'];
            if (b.phone !== undefined && !Array.isArray(b.phone))
              errors.phone = ['Значение должно быть массивом.'];
            if (Object.keys(errors).length) return { status: 200, body: { success: false, errors } };
            const customer: AlfaFakeCustomer = {
              id: this.#nextId++,
              name: b.name!,
              branch_ids: b.branch_ids!,
              is_study: b.is_study ?? 0,
              legal_type: b.legal_type ?? 1,
              phone: b.phone ?? [],
              email: b.email ?? [],
              note: b.note ?? '',
              assigned_id: b.assigned_id ?? null,
              communications: [],
            };
            this.customers.set(customer.id, customer);
            return { status: 200, body: { success: true, model: this.#view(customer) } };
          }),
        ),
        route(
          'POST',
          '/v2api/:branch/customer/update',
          this.#auth((r) => {
            const c = this.customers.get(Number(r.query.get('id')));
            if (!c)
              return {
                status: 404,
                body: { name: 'Not Found', message: 'Объект не найден', code: 0, status: 404 },
              };
            const b = (r.json ?? {}) as Partial<AlfaFakeCustomer>;
            if (b.name !== undefined) c.name = b.name;
            if (Array.isArray(b.phone)) c.phone = b.phone;
            if (Array.isArray(b.email)) c.email = b.email;
            return { status: 200, body: { success: true, model: this.#view(c) } };
          }),
        ),
        route(
          'POST',
          '/v2api/:branch/communication/create',
          this.#auth((r) => {
            if (r.query.get('class') !== 'Customer')
              return { status: 400, body: { success: false, errors: { class: ['Неверный класс'] } } };
            const c = this.customers.get(Number(r.query.get('related_id')));
            if (!c)
              return {
                status: 404,
                body: { name: 'Not Found', message: 'Объект не найден', code: 0, status: 404 },
              };
            const b = (r.json ?? {}) as { type_id?: number; comment?: string };
            if (!b.comment)
              return {
                status: 200,
                body: { success: false, errors: { comment: ['Необходимо заполнить «Комментарий».'] } },
              };
            c.communications.push({ type_id: b.type_id ?? 0, comment: b.comment });
            return {
              status: 200,
              body: {
                success: true,
                model: { id: c.communications.length, type_id: b.type_id, comment: b.comment },
              },
            };
          }),
        ),
        route(
          'POST',
          '/v2api/:branch/employee/index',
          this.#auth((r) => this.#list(this.employees, r)),
        ),
      ],
      () => ({ status: 404, body: { name: 'Not Found', message: 'Page not found.', code: 0, status: 404 } }),
    );
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
