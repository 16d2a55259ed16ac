import { randomUUID } from 'node:crypto';
import { digitsOf, FakeHttpServer, type FakeResponse, type RecordedRequest } from './crm-server.ts';

/**
 * A fake AdvantShop store API, modelled on promo-recruits/Advantshop-10.0 (AdvantShop.Web/Areas/Api/…):
 * `apikey` checked by AuthApiAttribute.cs (errors `{status: "error", errors: "Invalid apikey"}` with
 * HTTP 200); LeadsController + Models/Leads/AddLeadModel.cs (`POST /api/leads/add`, at least one of
 * firstName/email/phone, answer `{leadId, status: "ok"}`, a new customer per lead unless `customerId`);
 * CustomersController + GetCustomers.cs (phone compared as a standardised number, LIKE; email LIKE;
 * `{pagination, customers}`); AddUpdateCustomer.cs (update rewrites `email` always — empty when absent —
 * and other fields when present; an existing phone or email on another customer is refused);
 * GetManagers.cs (`{id, name}`).
 * Assumptions: the `managers` envelope, GET api/customers/{id} answering the customer object, and
 * phones standardised as 7XXXXXXXXXX.
 */

export interface AdvantFakeCustomer {
  id: string;
  email: string;
  phone: number | null;
  firstName: string;
  lastName: string;
  adminComment: string;
  managerId: number | null;
}

export interface AdvantFakeLead {
  leadId: number;
  customerId: string;
  title: string;
  description: string;
  source: string;
}

const error = (errors: string): FakeResponse => ({ status: 200, body: { status: 'error', errors } });
const standard = (phone: unknown): number | null => {
  const digits = digitsOf(String(phone ?? '')).replace(/^8(\d{10})$/, '7$1');
  return digits.length >= 10 ? Number(digits) : null;
};

export class AdvantShopFake {
  readonly apiKey = 'adv-4f1c2e';
  readonly customers = new Map<string, AdvantFakeCustomer>();
  readonly leads: AdvantFakeLead[] = [];
  readonly managers = [
    { id: 1, name: 'Анна Менеджер' },
    { id: 2, name: 'Борис Продавец' },
  ];
  #nextLead = 100;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<AdvantShopFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new AdvantShopFake(server);
    server.setHandler((r) => fake.#handle(r));
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  get leadUrl(): string {
    return `${this.url}/api/leads/add?apikey=${this.apiKey}`;
  }

  seed(data: { name: string; phones: string[]; emails: string[] }): AdvantFakeCustomer {
    return this.#customer({
      firstName: data.name,
      phone: standard(data.phones[0]),
      email: data.emails[0] ?? '',
    });
  }

  #customer(data: Partial<AdvantFakeCustomer>): AdvantFakeCustomer {
    const customer: AdvantFakeCustomer = {
      id: randomUUID(),
      email: '',
      phone: null,
      firstName: '',
      lastName: '',
      adminComment: '',
      managerId: null,
      ...data,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  #handle(r: RecordedRequest): FakeResponse {
    const key = r.query.get('apikey') ?? r.headers.authorization;
    if (!key) return error('Invalid apikey');
    if (key !== this.apiKey) return error('Invalid apikey');
    const body = (r.json ?? {}) as Record<string, unknown>;
    if (r.method === 'GET' && r.path === '/api/managers')
      return { status: 200, body: { managers: this.managers } };
    if (r.method === 'GET' && r.path === '/api/customers') {
      const phone = r.query.get('phone');
      const email = r.query.get('email');
      const wanted = phone ? standard(phone) : null;
      const found = [...this.customers.values()].filter(
        (c) =>
          (!phone || (wanted !== null && c.phone !== null && String(c.phone).includes(String(wanted)))) &&
          (!email || c.email.toLowerCase().includes(email.toLowerCase())),
      );
      const page = found.slice(0, 100);
      return {
        status: 200,
        body: {
          pagination: { count: page.length, currentPage: 1, totalCount: found.length, totalPageCount: 1 },
          customers: page,
        },
      };
    }
    const one = /^\/api\/customers\/([0-9a-f-]{36})$/.exec(r.path);
    if (one) {
      const customer = this.customers.get(one[1]!);
      if (!customer) return error('Покупатель не найден');
      if (r.method === 'GET') return { status: 200, body: customer };
      const email = typeof body.email === 'string' ? body.email : '';
      if (email && [...this.customers.values()].some((c) => c !== customer && c.email === email))
        return error('Пользователь с таким email уже существует');
      customer.email = email;
      if (body.phone != null) customer.phone = standard(body.phone);
      if (typeof body.firstName === 'string') customer.firstName = body.firstName;
      if (typeof body.lastName === 'string') customer.lastName = body.lastName;
      if (typeof body.adminComment === 'string') customer.adminComment = body.adminComment;
      return { status: 200, body: { id: customer.id } };
    }
    if (r.method === 'POST' && r.path === '/api/leads/add') {
      if (!body.firstName && !body.email && !body.phone) return error('Укажите имя, email или телефон');
      const customer =
        typeof body.customerId === 'string' && this.customers.get(body.customerId)
          ? this.customers.get(body.customerId)!
          : this.#customer({
              firstName: String(body.firstName ?? ''),
              lastName: String(body.lastName ?? ''),
              email: String(body.email ?? ''),
              phone: standard(body.phone),
              managerId: typeof body.managerId === 'number' ? body.managerId : null,
            });
      const lead: AdvantFakeLead = {
        leadId: this.#nextLead++,
        customerId: customer.id,
        title: String(body.title ?? ''),
        description: String(body.description ?? ''),
        source: String(body.source ?? ''),
      };
      this.leads.push(lead);
      return { status: 200, body: { leadId: lead.leadId, status: 'ok' } };
    }
    return { status: 404, body: { status: 'error', errors: 'Not found' } };
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
