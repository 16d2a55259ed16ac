import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The common part of every CRM fake: a node:http server on a random loopback port that records every
 * request it received and lets a test inject faults (429, 5xx after processing, slow answers). Each
 * system's fake (test/fakes/<system>.ts) adds its real paths, field names, auth and error formats.
 */

export interface RecordedRequest {
  method: string;
  /** Path without the query string, URL-decoded segments kept as sent. */
  path: string;
  query: URLSearchParams;
  /** The query string as sent, without "?" (Megaplan sends a URL-encoded JSON object there). */
  rawQuery: string;
  /** Lower-case names. */
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON body, when the body was JSON. */
  json: unknown;
  /** Parsed form body, when the body was x-www-form-urlencoded (empty otherwise). */
  form: URLSearchParams;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is; undefined as an empty body. */
  body?: unknown;
  /** Wait this long before answering (to trip the client's timeout). */
  delayMs?: number;
}

export type FakeHandler = (request: RecordedRequest) => FakeResponse | Promise<FakeResponse>;

export interface Fault {
  /** Which requests the fault hits. */
  when: (request: RecordedRequest) => boolean;
  /** The answer the client gets. */
  respond: FakeResponse;
  /** Run the real handler first (the CRM acted), then answer with `respond`: a lost answer. */
  afterProcessing?: boolean;
  /** How many matching requests it hits (default 1). */
  times?: number;
}

export class FakeHttpServer {
  readonly requests: RecordedRequest[] = [];
  readonly #server: http.Server;
  readonly #faults: (Fault & { left: number })[] = [];
  #handler: FakeHandler;

  private constructor(server: http.Server, handler: FakeHandler) {
    this.#server = server;
    this.#handler = handler;
  }

  static async start(handler: FakeHandler): Promise<FakeHttpServer> {
    let fake: FakeHttpServer | undefined;
    const server = http.createServer((req, res) => {
      void fake!.#serve(req, res);
    });
    fake = new FakeHttpServer(server, handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  setHandler(handler: FakeHandler): void {
    this.#handler = handler;
  }

  inject(fault: Fault): void {
    this.#faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** Requests matching a method and path (a string or a pattern). */
  find(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)),
    );
  }

  reset(): void {
    this.requests.length = 0;
    this.clearFaults();
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const contentType = req.headers['content-type'] ?? '';
    let json: unknown;
    if (/json/.test(contentType) && rawBody !== '') {
      try {
        json = JSON.parse(rawBody);
      } catch {
        json = undefined;
      }
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      rawQuery: url.search.replace(/^\?/, ''),
      headers: req.headers,
      rawBody,
      json,
      form: /x-www-form-urlencoded/.test(contentType) ? new URLSearchParams(rawBody) : new URLSearchParams(),
    };
    this.requests.push(recorded);
    let answer: FakeResponse;
    try {
      const fault = this.#faults.find((f) => f.left > 0 && f.when(recorded));
      if (fault) {
        fault.left -= 1;
        if (fault.afterProcessing) await this.#handler(recorded);
        answer = fault.respond;
      } else {
        answer = await this.#handler(recorded);
      }
    } catch (error) {
      answer = { status: 500, body: { error: 'fake crashed', message: String(error) } };
    }
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (res.destroyed) return;
    const headers: Record<string, string> = { ...answer.headers };
    let body = '';
    if (typeof answer.body === 'string') body = answer.body;
    else if (answer.body !== undefined) {
      body = JSON.stringify(answer.body);
      headers['content-type'] ??= 'application/json';
    }
    res.writeHead(answer.status, headers);
    res.end(body);
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A tiny router: `route('GET', '/api/v4/contacts/:id', handler)`, first match wins. */
export interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: (request: RecordedRequest, params: Record<string, string>) => FakeResponse | Promise<FakeResponse>;
}

export function route(method: string, path: string, handler: Route['handler']): Route {
  const names: string[] = [];
  const source = path
    .split('/')
    .map((part) => {
      // ":id" or ":id.json": a parameter, optionally followed by a literal suffix.
      const param = /^:(\w+)(.*)$/.exec(part);
      if (param) {
        names.push(param[1]!);
        return `([^/]+?)${escapeRegExp(param[2]!)}`;
      }
      return escapeRegExp(part);
    })
    .join('/');
  return { method, pattern: new RegExp(`^${source}$`), names, handler };
}

export function router(routes: Route[], notFound: FakeHandler): FakeHandler {
  return (request) => {
    for (const r of routes) {
      if (r.method !== request.method) continue;
      const match = r.pattern.exec(request.path);
      if (!match) continue;
      const params: Record<string, string> = {};
      r.names.forEach((name, i) => {
        params[name] = decodeURIComponent(match[i + 1]!);
      });
      return r.handler(request, params);
    }
    return notFound(request);
  };
}

/** Digits of a phone as typed ("+7 (999) 123-45-67" → "79991234567"). */
export const digitsOf = (value: string) => value.replace(/\D/g, '');
