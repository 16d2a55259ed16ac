import { randomBytes } from 'node:crypto';
import { digitsOf, FakeHttpServer, type FakeResponse, type RecordedRequest } from './crm-server.ts';

/**
 * A fake Megaplan account, API v3. Relied on besides crm-apis.md §7 (token endpoint, Bearer, the
 * `{meta: {status, errors, pagination}, data}` envelope, 401/422/429, `q` search, `contentType` on
 * every object): sergey-preobrazhensky/megaplansdk — GET parameters as one URL-encoded JSON object
 * (src/MegaplanRequest.php), update by POST to the object's URL, employees with `isWorking`
 * (examples/entityRequests/…).
 * Assumptions: the token endpoint's error body (OAuth-style `{error: "invalid_grant"}` with 400), the
 * refresh grant being accepted, `contactInfo` replaced as a whole on update, and `q` matching names,
 * emails and phone digits as substrings.
 */

export interface MegaplanFakeContactInfo {
  contentType: 'ContactInfo';
  id: string;
  type: string;
  value: string;
  isMain?: boolean;
}

export interface MegaplanFakeClient {
  id: string;
  contentType: 'ContractorHuman';
  firstName: string;
  lastName: string;
  description: string;
  contactInfo: MegaplanFakeContactInfo[];
  responsibles: { contentType: 'Employee'; id: string }[];
  comments: string[];
}

const envelope = (data: unknown, status = 200, extra: Record<string, unknown> = {}): FakeResponse => ({
  status,
  body: { meta: { status, errors: [], ...extra }, data },
});
const failure = (status: number, errors: { field: string | null; message: string }[]): FakeResponse => ({
  status,
  body: { meta: { status, errors }, data: null },
});

export class MegaplanFake {
  readonly login = 'manager@company.example';
  readonly password = 'S3cret-pass';
  readonly clients = new Map<string, MegaplanFakeClient>();
  readonly employees = [
    {
      contentType: 'Employee',
      id: '1000005',
      firstName: 'Анна',
      lastName: 'Иванова',
      isWorking: true,
      contactInfo: [{ contentType: 'ContactInfo', type: 'email', value: 'anna@company.example' }],
    },
    {
      contentType: 'Employee',
      id: '1000006',
      firstName: 'Борис',
      lastName: 'Петров',
      isWorking: true,
      contactInfo: [],
    },
    {
      contentType: 'Employee',
      id: '1000007',
      firstName: 'Уволенный',
      lastName: 'Сотрудник',
      isWorking: false,
      contactInfo: [],
    },
  ];
  /** Every password the token endpoint received (the connector must send it only there). */
  readonly passwordsSeen: string[] = [];
  readonly #access = new Set<string>();
  readonly #refresh = new Set<string>();
  #nextId = 1000100;
  #nextInfo = 1;

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<MegaplanFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new MegaplanFake(server);
    server.setHandler((r) => fake.#handle(r));
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  issueTokens(): { accessToken: string; refreshToken: string; expiresAt: number } {
    const accessToken = randomBytes(16).toString('hex');
    const refreshToken = randomBytes(16).toString('hex');
    this.#access.add(accessToken);
    this.#refresh.add(refreshToken);
    return { accessToken, refreshToken, expiresAt: Date.now() + 180 * 86_400_000 };
  }

  expireAccessTokens(): void {
    this.#access.clear();
  }

  seed(data: { name: string; phones: string[]; emails: string[] }): MegaplanFakeClient {
    const client: MegaplanFakeClient = {
      id: String(this.#nextId++),
      contentType: 'ContractorHuman',
      firstName: data.name,
      lastName: '',
      description: '',
      contactInfo: [
        ...data.phones.map((value) => this.#info('phone', value)),
        ...data.emails.map((value) => this.#info('email', value)),
      ],
      responsibles: [],
      comments: [],
    };
    this.clients.set(client.id, client);
    return client;
  }

  #info(type: string, value: string): MegaplanFakeContactInfo {
    return { contentType: 'ContactInfo', id: String(this.#nextInfo++), type, value };
  }

  #params(r: RecordedRequest): Record<string, unknown> {
    if (!r.rawQuery) return {};
    try {
      return JSON.parse(decodeURIComponent(r.rawQuery)) as Record<string, unknown>;
    } catch {
      return {};
    }
  }

  #token(r: RecordedRequest): FakeResponse {
    const body = (r.json ?? Object.fromEntries(r.form)) as Record<string, string>;
    const bad = {
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid username and password combination' },
    };
    if (body.grant_type === 'password') {
      this.passwordsSeen.push(body.password ?? '');
      if (body.username !== this.login || body.password !== this.password) return bad;
    } else if (body.grant_type === 'refresh_token') {
      if (!this.#refresh.delete(body.refresh_token ?? ''))
        return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid refresh token' } };
    } else {
      return { status: 400, body: { error: 'unsupported_grant_type' } };
    }
    const pair = this.issueTokens();
    return {
      status: 200,
      body: {
        access_token: pair.accessToken,
        expires_in: 180 * 86_400,
        refresh_token: pair.refreshToken,
        token_type: 'bearer',
      },
    };
  }

  #validate(body: Record<string, unknown>, creating: boolean): FakeResponse | null {
    if (creating && body.contentType !== 'ContractorHuman')
      return failure(422, [{ field: 'contentType', message: 'contentType must be ContractorHuman' }]);
    if (body.contactInfo !== undefined) {
      if (!Array.isArray(body.contactInfo))
        return failure(422, [{ field: 'contactInfo', message: 'must be a list' }]);
      for (const item of body.contactInfo as Record<string, unknown>[]) {
        if (
          item.contentType !== 'ContactInfo' ||
          typeof item.value !== 'string' ||
          !['phone', 'email'].includes(String(item.type))
        ) {
          return failure(422, [{ field: 'contactInfo', message: 'invalid ContactInfo' }]);
        }
      }
    }
    return null;
  }

  #handle(r: RecordedRequest): FakeResponse {
    if (r.path === '/api/v3/auth/access_token' && r.method === 'POST') return this.#token(r);
    const header = r.headers.authorization ?? '';
    if (!header.startsWith('Bearer ') || !this.#access.has(header.slice(7)))
      return failure(401, [{ field: null, message: 'Unauthorized' }]);
    const params = this.#params(r);
    if (r.method === 'GET' && r.path === '/api/v3/contractor') {
      const q = String(params.q ?? '').toLowerCase();
      const found = [...this.clients.values()].filter((c) => {
        if (!q) return true;
        const texts = [c.firstName, c.lastName, ...c.contactInfo.map((i) => i.value)].map((t) =>
          t.toLowerCase(),
        );
        return (
          texts.some((t) => t.includes(q)) ||
          (digitsOf(q).length >= 5 && c.contactInfo.some((i) => digitsOf(i.value).includes(digitsOf(q))))
        );
      });
      const limit = Number(params.limit ?? 10);
      return envelope(
        found.slice(0, limit).map((c) => this.#view(c)),
        200,
        { pagination: { count: found.length, limit, hasMoreNext: found.length > limit, hasMorePrev: false } },
      );
    }
    if (r.method === 'GET' && r.path === '/api/v3/employee') {
      const limit = Number(params.limit ?? 10);
      const after = (params.pageAfter as { id?: string } | undefined)?.id;
      const start = after ? this.employees.findIndex((e) => e.id === after) + 1 : 0;
      const slice = this.employees.slice(start, start + limit);
      return envelope(slice, 200, {
        pagination: {
          count: this.employees.length,
          limit,
          hasMoreNext: start + limit < this.employees.length,
          hasMorePrev: start > 0,
        },
      });
    }
    if (r.method === 'POST' && r.path === '/api/v3/contractorHuman') {
      const body = (r.json ?? {}) as Record<string, unknown>;
      const invalid = this.#validate(body, true);
      if (invalid) return invalid;
      const client: MegaplanFakeClient = {
        id: String(this.#nextId++),
        contentType: 'ContractorHuman',
        firstName: String(body.firstName ?? ''),
        lastName: String(body.lastName ?? ''),
        description: String(body.description ?? ''),
        contactInfo: ((body.contactInfo as MegaplanFakeContactInfo[] | undefined) ?? []).map((i) => ({
          ...this.#info(i.type, i.value),
          ...(i.isMain ? { isMain: true } : {}),
        })),
        responsibles: (body.responsibles as MegaplanFakeClient['responsibles'] | undefined) ?? [],
        comments: [],
      };
      this.clients.set(client.id, client);
      return envelope(this.#view(client));
    }
    const one = /^\/api\/v3\/contractorHuman\/([^/]+)(\/comments)?$/.exec(r.path);
    if (one) {
      const client = this.clients.get(one[1]!);
      if (!client) return failure(404, [{ field: null, message: 'Not found' }]);
      if (one[2]) {
        if (r.method !== 'POST') return failure(405, [{ field: null, message: 'Method not allowed' }]);
        const body = (r.json ?? {}) as { contentType?: string; content?: string };
        if (body.contentType !== 'Comment' || !body.content)
          return failure(422, [{ field: 'content', message: 'content is required' }]);
        client.comments.push(body.content);
        return envelope({
          contentType: 'Comment',
          id: String(client.comments.length),
          content: body.content,
        });
      }
      if (r.method === 'GET') return envelope(this.#view(client));
      const body = (r.json ?? {}) as Record<string, unknown>;
      const invalid = this.#validate(body, false);
      if (invalid) return invalid;
      if (typeof body.firstName === 'string') client.firstName = body.firstName;
      if (typeof body.lastName === 'string') client.lastName = body.lastName;
      if (Array.isArray(body.contactInfo)) {
        client.contactInfo = (body.contactInfo as MegaplanFakeContactInfo[]).map((i) =>
          i.id ? i : this.#info(i.type, i.value),
        );
      }
      return envelope(this.#view(client));
    }
    return failure(404, [{ field: null, message: 'Not found' }]);
  }

  #view(c: MegaplanFakeClient) {
    const { comments: _c, ...rest } = c;
    return rest;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
