import {
  digitsOf,
  FakeHttpServer,
  type FakeResponse,
  type RecordedRequest,
  route,
  router,
} from './crm-server.ts';

/**
 * A fake Planfix account: the chat API (`POST /webchat/api`) and the parts of REST v2 the connector
 * uses. Relied on (electronic777/planfix-docs, the Planfix help mirrored):
 * - Интеграции/Список_команд_API_для_чатов.md: commands newMessage, getTask, getContact, updateContact
 *   with `cmd`, `providerId`, `planfix_token`, form-encoded; answers 200 (empty), `{data: {number}}`,
 *   400 `{error: "Invalid parameters"}` / `{error: "unknown contact"}` / `{error: "task not found"}`,
 *   401 `{error: "Invalid token"}`.
 * - REST_API_Авторизация.md (Bearer; `access_token` parameter on GET), REST_API_Коды_ошибок.md
 *   (`{result, code, error}`, 1 = bad token, 2000 = no such contact), REST_API__Сложные_фильтры_контактов
 *   (4003 phone, 4005 email, "contains").
 * Assumptions: how Planfix links a newMessage contact to an existing one (by phone or email here),
 * the REST answer shapes `{result: "success", contacts|users|contact: …}` with `phones: [{number,
 * type}]`, and the REST error status (400 with `result: "fail"`).
 */

export interface PlanfixFakeContact {
  id: number;
  name: string;
  lastname: string;
  email: string;
  phones: { number: string; type: number }[];
  /** Our contactId when the contact came through the chat API. */
  chatContactId?: string;
  data?: string;
}

export interface PlanfixFakeTask {
  number: number;
  chatId: string;
  contactId: number;
  title: string;
  messages: string[];
}

const chatFail = (status: number, error: string): FakeResponse => ({ status, body: { error } });
const restFail = (code: number, error: string, status = 400): FakeResponse => ({
  status,
  body: { result: 'fail', code, error },
});

export class PlanfixFake {
  readonly providerId = 'omnitalk-site-1';
  readonly planfixToken = '303cb962ac59075b964b07152d234b70';
  readonly restToken = 'pf-rest-token-5d80e21cb3e1';
  readonly contacts = new Map<number, PlanfixFakeContact>();
  readonly tasks = new Map<string, PlanfixFakeTask>();
  readonly users = [
    { id: 5, name: 'Пётр', lastname: 'Петров', email: 'petr@example.com', status: 'ACTIVE' },
    { id: 7, name: 'Мария', lastname: 'Иванова', email: 'maria@example.com', status: 'ACTIVE' },
  ];
  #nextContact = 1000;
  #nextTask = 1014;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<PlanfixFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new PlanfixFake(server);
    server.setHandler(fake.#routes());
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  seedContact(data: { name: string; phones: string[]; emails: string[] }): PlanfixFakeContact {
    const contact: PlanfixFakeContact = {
      id: this.#nextContact++,
      name: data.name,
      lastname: '',
      email: data.emails[0] ?? '',
      phones: data.phones.map((number) => ({ number, type: 1 })),
    };
    this.contacts.set(contact.id, contact);
    return contact;
  }

  #byChatId(contactId: string): PlanfixFakeContact | undefined {
    return [...this.contacts.values()].find((c) => c.chatContactId === contactId);
  }

  #chat(request: RecordedRequest): FakeResponse {
    const f = request.form;
    if (!/x-www-form-urlencoded/.test(request.headers['content-type'] ?? ''))
      return chatFail(400, 'Invalid parameters');
    if (f.get('planfix_token') !== this.planfixToken) return chatFail(401, 'Invalid token');
    const providerId = f.get('providerId');
    if (!providerId || providerId.includes('~')) return chatFail(400, 'Invalid parameters');
    switch (f.get('cmd')) {
      case 'getContact': {
        const contact = this.#byChatId(f.get('contactId') ?? '');
        return contact
          ? { status: 200, body: { data: { number: contact.id } } }
          : chatFail(400, 'unknown contact');
      }
      case 'getTask': {
        const task = this.tasks.get(f.get('chatId') ?? '');
        return task
          ? { status: 200, body: { data: { number: task.number } } }
          : chatFail(400, 'task not found');
      }
      case 'updateContact': {
        const contact = this.#byChatId(f.get('contactId') ?? '');
        if (!contact || !f.get('contactName')) return chatFail(400, 'Invalid parameters');
        this.#apply(contact, f);
        return { status: 200, body: '' };
      }
      case 'newMessage':
        return this.#newMessage(f);
      default:
        return chatFail(400, 'Invalid parameters');
    }
  }

  #apply(contact: PlanfixFakeContact, f: URLSearchParams): void {
    contact.name = f.get('contactName') ?? contact.name;
    if (f.get('contactLastName')) contact.lastname = f.get('contactLastName')!;
    if (f.get('contactEmail')) contact.email = f.get('contactEmail')!;
    const phone = f.get('contactPhone');
    if (phone && !contact.phones.some((p) => digitsOf(p.number) === digitsOf(phone)))
      contact.phones.push({ number: phone, type: 1 });
    if (f.get('contactData')) contact.data = f.get('contactData')!;
  }

  #newMessage(f: URLSearchParams): FakeResponse {
    const chatId = f.get('chatId');
    const contactId = f.get('contactId');
    const message = f.get('message');
    if (!chatId || !contactId || !f.get('contactName') || !message)
      return chatFail(400, 'Invalid parameters');
    let contact = this.#byChatId(contactId);
    if (!contact) {
      const phone = digitsOf(f.get('contactPhone') ?? '').replace(/^8(\d{10})$/, '7$1');
      const email = (f.get('contactEmail') ?? '').toLowerCase();
      contact = [...this.contacts.values()].find(
        (c) =>
          !c.chatContactId &&
          ((phone && c.phones.some((p) => digitsOf(p.number).replace(/^8(\d{10})$/, '7$1') === phone)) ||
            (email && c.email.toLowerCase() === email)),
      );
      if (!contact) {
        contact = { id: this.#nextContact++, name: '', lastname: '', email: '', phones: [] };
        this.contacts.set(contact.id, contact);
      }
      contact.chatContactId = contactId;
      this.#apply(contact, f);
    }
    let task = this.tasks.get(chatId);
    if (!task) {
      task = {
        number: this.#nextTask++,
        chatId,
        contactId: contact.id,
        title: f.get('title') ?? message.slice(0, 50),
        messages: [],
      };
      this.tasks.set(chatId, task);
    }
    task.messages.push(message);
    return { status: 200, body: '' };
  }

  #rest(handler: (r: RecordedRequest, p: Record<string, string>) => FakeResponse) {
    return (r: RecordedRequest, p: Record<string, string>) => {
      const header = r.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : r.query.get('access_token');
      if (token !== this.restToken) return restFail(1, 'Неверный токен', 401);
      return handler(r, p);
    };
  }

  #view(c: PlanfixFakeContact) {
    return { id: c.id, name: c.name, lastname: c.lastname, email: c.email, phones: c.phones };
  }

  #routes() {
    return router(
      [
        route('POST', '/webchat/api', (r) => this.#chat(r)),
        route(
          'POST',
          '/rest/contact/list',
          this.#rest((r) => {
            const body = (r.json ?? {}) as { filters?: { type: number; value: string }[]; pageSize?: number };
            if ((body.pageSize ?? 100) > 100) return restFail(41, 'pageSize must be at most 100');
            const found = [...this.contacts.values()].filter((c) =>
              (body.filters ?? []).every((filter) => {
                if (filter.type === 4003)
                  return c.phones.some((p) => digitsOf(p.number).includes(digitsOf(filter.value)));
                if (filter.type === 4005)
                  return c.email.toLowerCase().includes(String(filter.value).toLowerCase());
                return false;
              }),
            );
            return { status: 200, body: { result: 'success', contacts: found.map((c) => this.#view(c)) } };
          }),
        ),
        route(
          'GET',
          '/rest/contact/:id',
          this.#rest((_r, p) => {
            const c = this.contacts.get(Number(p.id));
            return c
              ? { status: 200, body: { result: 'success', contact: this.#view(c) } }
              : restFail(2000, 'Контакт не существует');
          }),
        ),
        route(
          'POST',
          '/rest/contact/:id',
          this.#rest((r, p) => {
            const c = this.contacts.get(Number(p.id));
            if (!c) return restFail(2000, 'Контакт не существует');
            const body = (r.json ?? {}) as Partial<PlanfixFakeContact>;
            if (body.email !== undefined) c.email = body.email;
            if (Array.isArray(body.phones))
              c.phones = body.phones.map((x) => ({ number: x.number, type: x.type ?? 1 }));
            return { status: 200, body: { result: 'success' } };
          }),
        ),
        route(
          'POST',
          '/rest/user/list',
          this.#rest((r) => {
            const body = (r.json ?? {}) as { offset?: number; pageSize?: number };
            const offset = body.offset ?? 0;
            return {
              status: 200,
              body: { result: 'success', users: this.users.slice(offset, offset + (body.pageSize ?? 100)) },
            };
          }),
        ),
      ],
      () => ({ status: 404, body: { error: 'not found' } }),
    );
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
