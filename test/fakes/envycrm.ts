import { digitsOf, FakeHttpServer, type FakeResponse, type RecordedRequest } from './crm-server.ts';

/**
 * A fake envyCRM (API v1). Relied on: dzham/envycrm_apiv1 (src/Client.php: `/crm/api/v1/{section}/{action}`
 * with `api_key` in the query, POST bodies `{"request": {…}}`, GET main/data, non-200 answers with
 * `message`; examples: `lead/set` with `method: "create"`, `department_id`, `inbox_type_id`, `values`;
 * `lead/search {email}`; `lead/updateLeadValue {lead_id, fields: [{value_type_id, input_id, value}]}`,
 * email being input 3) and regpage/shipping_api (payload under `result`).
 * Assumptions: main/data's shape (`departments`, `inbox_types`, `inputs` with `code`, `employees`), the
 * search answer (a list of `{id, values}`), `lead/set` answering `{lead_id}`, 401 for a wrong key and
 * 400/404 bodies `{message}`.
 */

export interface EnvyFakeLead {
  id: number;
  department_id: number;
  inbox_type_id: number;
  values: Record<string, string>;
}

const INPUTS = [
  { id: 1, code: 'name', name: 'Имя' },
  { id: 2, code: 'phone', name: 'Телефон' },
  { id: 3, code: 'email', name: 'Email' },
  { id: 4, code: 'comment', name: 'Комментарий' },
];

const ok = (result: unknown): FakeResponse => ({
  status: 200,
  body: { result, status_code: 200, message: 'OK' },
});
const fail = (status: number, message: string): FakeResponse => ({
  status,
  body: { status_code: status, message },
});

export class EnvyCrmFake {
  readonly apiKey = 'b6215149115fe226f83561a75aa8e6c6b54aa8c1';
  readonly leads = new Map<number, EnvyFakeLead>();
  readonly employees = [
    { id: 8056, name: 'Анна Менеджер', email: 'anna@example.com', active: true },
    { id: 8057, name: 'Борис Продажи', email: 'boris@example.com', active: true },
  ];
  #nextId = 2185000;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<EnvyCrmFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new EnvyCrmFake(server);
    server.setHandler((r) => fake.#handle(r));
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  seed(data: { name: string; phones: string[]; emails: string[] }): EnvyFakeLead {
    const lead: EnvyFakeLead = {
      id: this.#nextId++,
      department_id: 590,
      inbox_type_id: 4478,
      values: { name: data.name, phone: data.phones[0] ?? '', email: data.emails[0] ?? '', comment: '' },
    };
    this.leads.set(lead.id, lead);
    return lead;
  }

  #handle(r: RecordedRequest): FakeResponse {
    if (r.query.get('api_key') !== this.apiKey) return fail(401, 'Неверный ключ API');
    const path = r.path.replace(/\/$/, '');
    const req = ((r.json as { request?: Record<string, unknown> } | undefined)?.request ?? {}) as Record<
      string,
      unknown
    >;
    if (r.method !== 'GET' && !r.json) return fail(400, 'Тело запроса должно быть JSON {"request": {...}}');
    switch (`${r.method} ${path}`) {
      case 'GET /crm/api/v1/main/data':
      case 'POST /crm/api/v1/main/data':
        return ok({
          departments: [{ id: 590, name: 'Продажи' }],
          inbox_types: [{ id: 4478, name: 'Онлайн-чат' }],
          inputs: INPUTS,
          employees: this.employees,
        });
      case 'POST /crm/api/v1/lead/set': {
        if (req.method !== 'create') return fail(400, 'Неизвестный метод');
        if (req.department_id !== 590 || req.inbox_type_id !== 4478)
          return fail(400, 'Неверный отдел или тип входящих');
        const values = (req.values ?? {}) as Record<string, string>;
        if (!values.name) return fail(400, 'Не указано имя');
        const lead: EnvyFakeLead = {
          id: this.#nextId++,
          department_id: 590,
          inbox_type_id: 4478,
          values: { ...values },
        };
        this.leads.set(lead.id, lead);
        return ok({ lead_id: lead.id });
      }
      case 'POST /crm/api/v1/lead/search': {
        const phone = typeof req.phone === 'string' ? digitsOf(req.phone) : '';
        const email = typeof req.email === 'string' ? req.email.toLowerCase() : '';
        if (!phone && !email) return fail(400, 'Укажите данные для поиска');
        const found = [...this.leads.values()].filter(
          (l) =>
            (phone &&
              digitsOf(l.values.phone ?? '')
                .replace(/^8/, '7')
                .includes(phone.replace(/^8/, '7'))) ||
            (email && (l.values.email ?? '').toLowerCase().includes(email)),
        );
        return ok(found.map((l) => ({ id: l.id, values: l.values })));
      }
      case 'POST /crm/api/v1/lead/get': {
        const lead = this.leads.get(Number(req.lead_id));
        return lead ? ok({ id: lead.id, values: lead.values }) : fail(404, 'Заявка не найдена');
      }
      case 'POST /crm/api/v1/lead/updateLeadValue': {
        const lead = this.leads.get(Number(req.lead_id));
        if (!lead) return fail(404, 'Заявка не найдена');
        const fields = Array.isArray(req.fields)
          ? (req.fields as { value_type_id?: number; input_id?: number; value?: string }[])
          : [];
        if (fields.length === 0) return fail(400, 'Укажите данные для обновления');
        for (const f of fields) {
          const input = INPUTS.find((i) => i.id === f.input_id);
          if (!input || f.value_type_id !== 1 || typeof f.value !== 'string')
            return fail(400, 'Неверное поле');
          lead.values[input.code] = f.value;
        }
        return ok(true);
      }
      default:
        return fail(404, 'Метод не найден');
    }
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
