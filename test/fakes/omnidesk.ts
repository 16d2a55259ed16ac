import {
  digitsOf,
  FakeHttpServer,
  type FakeResponse,
  type RecordedRequest,
  route,
  router,
} from './crm-server.ts';

/**
 * A fake Omnidesk account. Relied on, besides crm-apis.md §4, from palachX/laravel-omnidesk:
 * - src/Transport/OmnideskTransport.php: HTTP Basic (staff email, API key), JSON bodies.
 * - src/Clients/UsersClient.php, StaffsClient.php, CustomChannelsClient.php: lists come as
 *   `{"0": {"user": {…}}, …, "total_count": N}` (keys `user`, `staff`, `custom_channel`).
 * - src/Clients/NotesClient.php + UseCases/V1/StoreNote: POST /api/cases/{id}/note.json
 *   `{note: {content, content_html}}` → `{message: {…}}`; MessagesClient.php: POST
 *   /api/cases/{id}/messages.json `{message: {user_id, content}}`.
 * - docs/en/api.md: user_email changes only while unconfirmed; user_phone only on phone-type users;
 *   a case names its requester by user_custom_id + channel, user_email or user_phone.
 * - docs/en/webhooks.md: the webhook body `{type: "message_new", object: {message_id, case_id,
 *   staff_id, user_id, custom_user_id, content, note, sent_via_rule}}`.
 * Error bodies `{error, description}` and 429 with a `retry_after` header follow crm-apis.md (both
 * UNCONFIRMED there). An empty search answers `{"total_count": 0}` (assumed).
 */

export interface OmniFakeUser {
  user_id: number;
  type: 'email' | 'phone' | 'custom';
  user_full_name: string;
  user_email?: string;
  user_phone?: string;
  user_custom_id?: string;
  user_custom_channel?: string;
  user_note?: string;
  confirmed: boolean;
}

export interface OmniFakeCase {
  case_id: number;
  case_number: string;
  user_id: number;
  subject: string;
  channel: string;
  messages: { content: string; user_id?: number }[];
  notes: string[];
}

const fail = (status: number, error: string, description: string): FakeResponse => ({
  status,
  body: { error, description },
});

export class OmnideskFake {
  readonly staffEmail = 'admin@example.com';
  readonly apiKey = 'omni-api-key-123';
  readonly channels = [
    {
      channel_id: 481,
      channel_api_key: 'ch-key',
      title: 'Online chat',
      channel_type: 'async',
      icon: 'fa-comment',
      webhook_url: 'https://omnitalk.example/in/omnidesk/t',
      active: true,
    },
  ];
  readonly users = new Map<number, OmniFakeUser>();
  readonly cases = new Map<number, OmniFakeCase>();
  readonly staff = [
    { staff_id: 201, staff_email: 'anna@example.com', staff_full_name: 'Анна', active: true },
    { staff_id: 202, staff_email: 'boris@example.com', staff_full_name: 'Борис', active: true },
  ];
  #nextUser = 300;
  #nextCase = 9000;
  #nextMessage = 1;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<OmnideskFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new OmnideskFake(server);
    server.setHandler(fake.#routes());
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  seedUser(data: { name: string; phones: string[]; emails: string[] }): OmniFakeUser {
    const user: OmniFakeUser = {
      user_id: this.#nextUser++,
      type: data.emails[0] ? 'email' : 'phone',
      user_full_name: data.name,
      ...(data.emails[0] ? { user_email: data.emails[0] } : {}),
      ...(data.phones[0] ? { user_phone: data.phones[0] } : {}),
      confirmed: false,
    };
    this.users.set(user.user_id, user);
    return user;
  }

  #authorized(request: RecordedRequest): FakeResponse | null {
    const header = request.headers.authorization ?? '';
    const [login, key] = Buffer.from(header.replace(/^Basic /, ''), 'base64')
      .toString('utf8')
      .split(':');
    if (!header.startsWith('Basic ') || login !== this.staffEmail || key !== this.apiKey) {
      return fail(401, 'wrong_credentials', 'Wrong email or API key');
    }
    return null;
  }

  #api(handler: (r: RecordedRequest, p: Record<string, string>) => FakeResponse) {
    return (r: RecordedRequest, p: Record<string, string>) => this.#authorized(r) ?? handler(r, p);
  }

  /** `^x^` is an exact match, anything else "contains"; phones compare by digits. */
  #matches(value: string | undefined, filter: string, phone: boolean): boolean {
    if (!value) return false;
    const exact = /^\^.*\^$/.test(filter);
    const wanted = exact ? filter.slice(1, -1) : filter;
    const norm = (v: string) => (phone ? digitsOf(v) : v.toLowerCase());
    return exact ? norm(value) === norm(wanted) : norm(value).includes(norm(wanted));
  }

  #list(items: Record<string, unknown>[], key: string, page: number, limit: number): FakeResponse {
    const slice = items.slice((page - 1) * limit, page * limit);
    const body: Record<string, unknown> = {};
    slice.forEach((item, i) => {
      body[String(i)] = { [key]: item };
    });
    body.total_count = items.length;
    return { status: 200, body };
  }

  #requester(c: Record<string, unknown>): OmniFakeUser | FakeResponse {
    const custom = typeof c.user_custom_id === 'string' ? c.user_custom_id : undefined;
    const email = typeof c.user_email === 'string' ? c.user_email : undefined;
    const phone = typeof c.user_phone === 'string' ? c.user_phone : undefined;
    if (custom && typeof c.channel !== 'string')
      return fail(400, 'channel_required', 'channel is required with user_custom_id');
    if (!custom && !email && !phone)
      return fail(400, 'user_required', 'user_email, user_phone or user_custom_id is required');
    const all = [...this.users.values()];
    const existing = custom
      ? all.find((u) => u.user_custom_id === custom && u.user_custom_channel === c.channel)
      : email
        ? all.find((u) => u.user_email?.toLowerCase() === email.toLowerCase())
        : all.find((u) => digitsOf(u.user_phone ?? '') === digitsOf(phone!));
    if (existing) return existing;
    const user: OmniFakeUser = {
      user_id: this.#nextUser++,
      type: custom ? 'custom' : email ? 'email' : 'phone',
      user_full_name: typeof c.user_full_name === 'string' ? c.user_full_name : '',
      ...(email ? { user_email: email } : {}),
      ...(phone ? { user_phone: phone } : {}),
      ...(custom ? { user_custom_id: custom, user_custom_channel: String(c.channel) } : {}),
      confirmed: false,
    };
    this.users.set(user.user_id, user);
    return user;
  }

  #routes() {
    return router(
      [
        route(
          'GET',
          '/api/staff.json',
          this.#api((r) =>
            this.#list(
              this.staff,
              'staff',
              Number(r.query.get('page') ?? 1),
              Number(r.query.get('limit') ?? 100),
            ),
          ),
        ),
        route(
          'GET',
          '/api/custom_channels.json',
          this.#api(() => this.#list(this.channels, 'custom_channel', 1, 100)),
        ),
        route(
          'GET',
          '/api/users.json',
          this.#api((r) => {
            const limit = Number(r.query.get('limit') ?? 100);
            if (limit > 100) return fail(400, 'wrong_limit', 'limit must be at most 100');
            const email = r.query.get('user_email');
            const phone = r.query.get('user_phone');
            const custom = r.query.get('user_custom_id');
            const channel = r.query.get('user_custom_channel');
            const found = [...this.users.values()].filter(
              (u) =>
                (!email || this.#matches(u.user_email, email, false)) &&
                (!phone || this.#matches(u.user_phone, phone, true)) &&
                (!custom || this.#matches(u.user_custom_id, custom, false)) &&
                (!channel || u.user_custom_channel === channel),
            );
            return this.#list(
              found as unknown as Record<string, unknown>[],
              'user',
              Number(r.query.get('page') ?? 1),
              limit,
            );
          }),
        ),
        route(
          'GET',
          '/api/users/:id.json',
          this.#api((_r, p) => {
            const user = this.users.get(Number(p.id));
            return user ? { status: 200, body: { user } } : fail(404, 'user_not_found', 'User not found');
          }),
        ),
        route(
          'PUT',
          '/api/users/:id.json',
          this.#api((r, p) => {
            const user = this.users.get(Number(p.id));
            if (!user) return fail(404, 'user_not_found', 'User not found');
            const patch = ((r.json ?? {}) as { user?: Record<string, unknown> }).user;
            if (!patch) return fail(400, 'user_required', 'user object is required');
            if (patch.user_email !== undefined) {
              if (user.confirmed)
                return fail(400, 'email_confirmed', 'Email can only be changed while not confirmed');
              user.user_email = String(patch.user_email);
            }
            if (patch.user_phone !== undefined) {
              if (user.type !== 'phone')
                return fail(400, 'phone_not_allowed', 'user_phone applies only to phone users');
              user.user_phone = String(patch.user_phone);
            }
            if (typeof patch.user_full_name === 'string') user.user_full_name = patch.user_full_name;
            if (typeof patch.user_note === 'string') user.user_note = patch.user_note;
            return { status: 200, body: { user } };
          }),
        ),
        route(
          'POST',
          '/api/cases.json',
          this.#api((r) => {
            const c = ((r.json ?? {}) as { case?: Record<string, unknown> }).case;
            if (!c) return fail(400, 'case_required', 'case object is required');
            if (typeof c.subject !== 'string' || c.subject === '')
              return fail(400, 'subject_required', 'subject is required');
            if (typeof c.content !== 'string' && typeof c.content_html !== 'string')
              return fail(400, 'content_required', 'content is required');
            const user = this.#requester(c);
            if ('status' in user) return user;
            if (!user.user_full_name && typeof c.user_full_name === 'string')
              user.user_full_name = c.user_full_name;
            const created: OmniFakeCase = {
              case_id: this.#nextCase++,
              case_number: `${this.#nextCase}-000000`,
              user_id: user.user_id,
              subject: c.subject,
              channel: typeof c.channel === 'string' ? c.channel : 'web',
              messages: [{ content: String(c.content ?? c.content_html), user_id: user.user_id }],
              notes: [],
            };
            this.cases.set(created.case_id, created);
            const { messages: _m, notes: _n, ...view } = created;
            return {
              status: 201,
              body: {
                case: {
                  ...view,
                  staff_id: 0,
                  group_id: 0,
                  status: 'open',
                  priority: 'normal',
                  created_at: new Date().toUTCString(),
                },
              },
            };
          }),
        ),
        route(
          'POST',
          '/api/cases/:id/note.json',
          this.#api((r, p) => {
            const c = this.cases.get(Number(p.id));
            if (!c) return fail(404, 'case_not_found', 'Case not found');
            const note = ((r.json ?? {}) as { note?: { content?: unknown } }).note;
            if (typeof note?.content !== 'string' || note.content === '')
              return fail(400, 'content_required', 'content is required');
            c.notes.push(note.content);
            return {
              status: 201,
              body: {
                message: {
                  message_id: this.#nextMessage++,
                  note: true,
                  content: note.content,
                  case_id: c.case_id,
                },
              },
            };
          }),
        ),
        route(
          'POST',
          '/api/cases/:id/messages.json',
          this.#api((r, p) => {
            const c = this.cases.get(Number(p.id));
            if (!c) return fail(404, 'case_not_found', 'Case not found');
            const message = ((r.json ?? {}) as { message?: { content?: unknown; user_id?: unknown } })
              .message;
            if (typeof message?.content !== 'string')
              return fail(400, 'content_required', 'content is required');
            if (message.user_id !== c.user_id)
              return fail(400, 'wrong_user', 'user_id does not match the case');
            c.messages.push({ content: message.content, user_id: c.user_id });
            return {
              status: 201,
              body: {
                message: { message_id: this.#nextMessage++, user_id: c.user_id, content: message.content },
              },
            };
          }),
        ),
      ],
      () => fail(404, 'not_found', 'Not found'),
    );
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
