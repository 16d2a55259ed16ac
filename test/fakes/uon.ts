import { digitsOf, FakeHttpServer, type FakeResponse, type RecordedRequest } from './crm-server.ts';

/**
 * A fake U-ON.Travel API: `/{key}/{method}.json`, form-encoded POSTs, JSON answers. Relied on besides
 * crm-apis.md §6: DrTeamRocks/uon (src/Endpoint/Users.php, Leads.php, Requests.php,
 * src/Endpoints/Managers.php) for the paths; MindCloud's U-ON reference for lead fields (`client_id`,
 * `client_phone`, `client_email`); crm-apis.md for `{result: 200, id: "123"}` on create and 404 with
 * `result: 404` for an empty search.
 * Assumptions: the envelopes (`users`, `leads`, `requests`, `lead`), 403 for a wrong key, phones matched
 * by digits with 8… = 7…, and the 400 body `{result: 400, message}`.
 */

export interface UonFakeUser {
  u_id: number;
  u_name: string;
  u_surname: string;
  u_phone: string;
  u_phone_mobile: string;
  u_email: string;
}

export interface UonFakeLead {
  id: number;
  client_id: number;
  source: string;
  notes: string;
  manager_id: number | null;
  actions: { type_id: string; datetime: string; text: string }[];
}

const norm = (phone: string) => digitsOf(phone).replace(/^8(\d{10})$/, '7$1');
const fail = (status: number, message: string): FakeResponse => ({
  status,
  body: { result: status, message },
});

export class UonFake {
  readonly apiKey = 'uonKEY123abc';
  readonly users = new Map<number, UonFakeUser>();
  readonly leads = new Map<number, UonFakeLead>();
  readonly managers = [
    { u_id: 11, u_name: 'Ирина', u_surname: 'Менеджер', u_email: 'irina@agency.example' },
    { u_id: 12, u_name: 'Олег', u_surname: 'Продажи', u_email: 'oleg@agency.example' },
  ];
  #nextUser = 100;
  #nextLead = 5000;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<UonFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new UonFake(server);
    server.setHandler((r) => fake.#handle(r));
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  /** A client with one обращение, as an agency already has them. */
  seed(data: { name: string; phones: string[]; emails: string[] }): UonFakeUser {
    const user = this.#user({
      u_name: data.name,
      u_phone: data.phones[0] ?? '',
      u_email: data.emails[0] ?? '',
    });
    this.#lead(user.u_id, 'Сайт', '', null);
    return user;
  }

  #user(data: Partial<UonFakeUser>): UonFakeUser {
    const user: UonFakeUser = {
      u_id: this.#nextUser++,
      u_name: '',
      u_surname: '',
      u_phone: '',
      u_phone_mobile: '',
      u_email: '',
      ...data,
    };
    this.users.set(user.u_id, user);
    return user;
  }

  #lead(clientId: number, source: string, notes: string, managerId: number | null): UonFakeLead {
    const lead: UonFakeLead = {
      id: this.#nextLead++,
      client_id: clientId,
      source,
      notes,
      manager_id: managerId,
      actions: [],
    };
    this.leads.set(lead.id, lead);
    return lead;
  }

  #leadView(lead: UonFakeLead) {
    const user = this.users.get(lead.client_id);
    return {
      id: String(lead.id),
      client_id: lead.client_id,
      client_name: user?.u_name ?? '',
      client_phone: user?.u_phone || user?.u_phone_mobile || '',
      client_email: user?.u_email ?? '',
      source: lead.source,
      notes: lead.notes,
      manager_id: lead.manager_id,
    };
  }

  #handle(r: RecordedRequest): FakeResponse {
    const match = /^\/([^/]+)\/(.+)\.json$/.exec(r.path);
    if (!match) return fail(404, 'Not found');
    if (match[1] !== this.apiKey) return fail(403, 'Access denied: wrong API key');
    const path = match[2]!;
    const f = r.form;
    const at = (pattern: RegExp) => pattern.exec(path);
    if (r.method === 'GET' && path === 'manager')
      return { status: 200, body: { users: this.managers, result: 200 } };
    const byPhone = r.method === 'GET' ? at(/^user\/phone\/(.+)$/) : null;
    if (byPhone) {
      const wanted = norm(byPhone[1]!);
      const found = [...this.users.values()].filter((u) =>
        [u.u_phone, u.u_phone_mobile].some((p) => p && norm(p) === wanted),
      );
      return found.length ? { status: 200, body: { users: found, result: 200 } } : fail(404, 'Not found');
    }
    if (r.method === 'POST' && path === 'user/email') {
      const email = (f.get('email') ?? f.get('u_email') ?? '').toLowerCase();
      const found = [...this.users.values()].filter((u) => email && u.u_email.toLowerCase() === email);
      return found.length ? { status: 200, body: { users: found, result: 200 } } : fail(404, 'Not found');
    }
    const byClient = r.method === 'GET' ? at(/^(lead|request)-by-client\/(\d+)\/(\d+)$/) : null;
    if (byClient) {
      const clientId = Number(byClient[2]);
      const leads =
        byClient[1] === 'lead'
          ? [...this.leads.values()].filter((l) => l.client_id === clientId).map((l) => this.#leadView(l))
          : [];
      if (!leads.length) return fail(404, 'Not found');
      return { status: 200, body: { [byClient[1] === 'lead' ? 'leads' : 'requests']: leads, result: 200 } };
    }
    const leadId = r.method === 'GET' ? at(/^lead\/(\d+)$/) : null;
    if (leadId) {
      const lead = this.leads.get(Number(leadId[1]));
      return lead
        ? { status: 200, body: { lead: [this.#leadView(lead)], result: 200 } }
        : fail(404, 'Not found');
    }
    if (r.method === 'POST' && path === 'lead/create') {
      if (!f.get('source')) return fail(400, 'source is required');
      let user = f.get('u_id') ? this.users.get(Number(f.get('u_id'))) : undefined;
      if (f.get('u_id') && !user) return fail(400, 'client not found');
      user ??= this.#user({
        u_name: f.get('u_name') ?? '',
        u_surname: f.get('u_surname') ?? '',
        u_phone: f.get('u_phone') ?? '',
        u_email: f.get('u_email') ?? '',
      });
      const lead = this.#lead(
        user.u_id,
        f.get('source')!,
        f.get('note') ?? '',
        f.get('r_u_id') ? Number(f.get('r_u_id')) : null,
      );
      return { status: 200, body: { result: 200, id: String(lead.id) } };
    }
    const update = r.method === 'POST' ? at(/^user\/update\/(\d+)$/) : null;
    if (update) {
      const user = this.users.get(Number(update[1]));
      if (!user) return fail(404, 'Not found');
      for (const key of ['u_name', 'u_surname', 'u_phone', 'u_phone_mobile', 'u_email'] as const) {
        if (f.has(key)) user[key] = f.get(key)!;
      }
      return { status: 200, body: { result: 200, id: String(user.u_id) } };
    }
    if (r.method === 'POST' && path === 'request-action/create') {
      const lead = this.leads.get(Number(f.get('r_id')));
      if (!lead) return fail(400, 'r_id not found');
      const datetime = f.get('datetime') ?? '';
      if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(datetime))
        return fail(400, 'datetime must be Y-m-d H:i:s');
      if (!f.get('text')) return fail(400, 'text is required');
      lead.actions.push({ type_id: f.get('type_id') ?? '', datetime, text: f.get('text')! });
      return { status: 200, body: { result: 200, id: String(lead.actions.length) } };
    }
    return fail(404, 'Method not found');
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
