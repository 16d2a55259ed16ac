import { type BackoffOptions, defaultBackoff } from './backoff.ts';
import { Connection, type ConnectionState } from './connection.ts';
import { Emitter } from './emitter.ts';
import { OmnitalkError } from './errors.ts';
import { Outbox, type PendingMessage } from './outbox.ts';
import type {
  Attachment,
  HistoryPage,
  ProtocolErrorCode,
  ReadEvent,
  ServerFrame,
  TypingEvent,
  VisitorDialog,
  VisitorMessage,
  VisitorWelcome,
} from './protocol.ts';
import {
  defaultWebSocketFactory,
  type FetchLike,
  globalFetch,
  globalFormData,
  memoryStorage,
  newClientId,
  type StorageLike,
  type WebSocketConstructor,
  type WebSocketFactory,
} from './runtime.ts';
import { SendQueue } from './send-queue.ts';
import { SeenIds, socketUrl } from './util.ts';

export interface VisitorClientOptions {
  /** The omnitalk server, e.g. "https://chat.example.com". */
  server: string;
  /** The site's public key from its embed snippet. */
  siteKey: string;
  /** Where the visitor token and unsent messages live: localStorage, AsyncStorage; memory by default. */
  storage?: StorageLike;
  /** A WebSocket implementation where there is no global one (Node: the "ws" package). */
  WebSocket?: WebSocketConstructor;
  /** Or a factory, to pass headers or options to the socket. */
  createSocket?: WebSocketFactory;
  fetch?: FetchLike;
  /** The page the visitor is on, sent with every hello (browsers: location.href and document.title). */
  page?: () => { url: string; title?: string } | undefined;
  /** Apps without a User-Agent header (React Native) may name themselves. */
  userAgent?: string;
  backoff?: Partial<BackoffOptions>;
  requestTimeoutMs?: number;
}

export interface VisitorEvents {
  state: ConnectionState;
  welcome: VisitorWelcome;
  /** A message to show: from the operator, a system note, or the visitor's own (also from another tab). */
  message: VisitorMessage;
  dialog: VisitorDialog;
  typing: TypingEvent;
  read: ReadEvent;
  /** A message the server refused for good (it left the outbox), or an error not tied to a request. */
  error: OmnitalkError;
  /** The server may have missed live events; the SDK has fetched the newest history again. */
  resync: undefined;
}

/** The visitor side of the chat: what the widget (or a mobile app) uses. */
export class OmnitalkVisitor extends Emitter<VisitorEvents> {
  visitorId: number | null = null;
  token: string | null = null;
  dialog: VisitorDialog | null = null;
  operatorsOnline = false;
  private readonly connection: Connection;
  private readonly queue: SendQueue<VisitorMessage>;
  private readonly storage: StorageLike;
  private readonly fetcher: FetchLike | undefined;
  private readonly seen = new SeenIds();
  private readonly tokenKey: string;
  private readonly loaded: Promise<void>;
  private lastTypingAt = 0;
  private welcomeWaiters: { resolve: (w: VisitorWelcome) => void; reject: (e: OmnitalkError) => void }[] = [];

  constructor(private readonly options: VisitorClientOptions) {
    super();
    this.storage = options.storage ?? memoryStorage();
    this.fetcher = options.fetch ?? globalFetch();
    this.tokenKey = `omnitalk:${options.siteKey}:visitor-token`;
    this.connection = new Connection({
      url: socketUrl(options.server, '/ws/visitor'),
      createSocket: options.createSocket ?? defaultWebSocketFactory(options.WebSocket),
      backoff: { ...defaultBackoff, ...options.backoff },
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      hello: () => {
        const page = options.page?.();
        return {
          type: 'hello',
          site_key: options.siteKey,
          ...(this.token && { visitor_token: this.token }),
          ...(page && { page }),
          ...(options.userAgent && { user_agent: options.userAgent }),
        };
      },
    });
    this.queue = new SendQueue<VisitorMessage>(
      this.connection,
      new Outbox(this.storage, `omnitalk:${options.siteKey}:outbox`),
      (p) => ({
        client_id: p.client_id,
        text: p.text,
        ...(p.attachment_id && { attachment_id: p.attachment_id }),
      }),
      (message) => this.deliver(message),
      (error) => this.emit('error', error),
    );
    // Read what an earlier page left (its token, its unsent messages) right away, so a send before
    // connect() joins them instead of overwriting them.
    this.loaded = this.restore();
    this.connection.on('state', (state) => this.emit('state', state));
    this.connection.on('welcome', (frame) => this.onWelcome(frame as unknown as VisitorWelcome));
    this.connection.on('frame', (frame) => this.onFrame(frame));
    this.connection.on('serverError', (error) => this.emit('error', error));
    this.connection.on('fatal', (error) => {
      for (const w of this.welcomeWaiters.splice(0)) w.reject(error);
      this.emit('error', error);
    });
  }

  private async restore(): Promise<void> {
    try {
      this.token = (await this.storage.getItem(this.tokenKey)) ?? null;
    } catch {
      this.token = null;
    }
    await this.queue.outbox.load();
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Connects (and keeps reconnecting); resolves with the first welcome. */
  async connect(): Promise<VisitorWelcome> {
    await this.loaded;
    const welcome = new Promise<VisitorWelcome>((resolve, reject) =>
      this.welcomeWaiters.push({ resolve, reject }),
    );
    this.connection.start();
    return welcome;
  }

  close(): void {
    this.connection.stop();
  }

  reconnectNow(): void {
    this.connection.reconnectNow();
  }

  /**
   * Sends a message. It is kept (and persisted) until the server acknowledges it, across reconnects and
   * reloads; the promise resolves with the stored message.
   */
  send(text: string, options: { attachmentId?: number; clientId?: string } = {}): Promise<VisitorMessage> {
    if (options.clientId !== undefined && (options.clientId.length < 1 || options.clientId.length > 64))
      return Promise.reject(
        new OmnitalkError('invalid_message', 'clientId must be 1 to 64 characters', 'client_id'),
      );
    const pending: PendingMessage = {
      // The caller's id (to show the message as "sending" at once and match the stored one), or ours.
      client_id: options.clientId ?? newClientId(),
      text,
      ...(options.attachmentId && { attachment_id: options.attachmentId }),
      created_at: new Date().toISOString(),
    };
    return this.queue.enqueue(pending);
  }

  /** Messages written but not yet acknowledged, oldest first (to show as "sending"). */
  pending(): readonly PendingMessage[] {
    return this.queue.outbox.list();
  }

  /** Typing on/off; repeated "on" within 3 seconds is not resent. */
  typing(on: boolean): void {
    const now = Date.now();
    if (on && now - this.lastTypingAt < 3000) return;
    this.lastTypingAt = on ? now : 0;
    this.connection.notify({ type: 'typing', on });
  }

  async markRead(upTo: number): Promise<number | null> {
    const data = await this.connection.request({ type: 'read', up_to: upTo });
    return (data.up_to as number | null) ?? null;
  }

  /** The contact form: the visitor's name, phone and email (the server normalises and validates them). */
  async submitContact(contact: { name?: string; phone?: string; email?: string }): Promise<{
    name: string | null;
    phone: string | null;
    email: string | null;
  }> {
    const data = await this.connection.request({ type: 'contact.submit', ...contact });
    return data.contact as { name: string | null; phone: string | null; email: string | null };
  }

  async pageView(url: string, title?: string): Promise<void> {
    await this.connection.request({ type: 'page.view', url, ...(title !== undefined && { title }) });
  }

  async history(page: { before?: number; limit?: number } = {}): Promise<HistoryPage<VisitorMessage>> {
    const data = await this.connection.request({ type: 'history', ...page });
    return data as unknown as HistoryPage<VisitorMessage>;
  }

  /**
   * Uploads a file (a Blob/File in a browser; `{ uri, name, type }` in React Native) and answers with the
   * attachment to pass to send().
   */
  async upload(file: unknown, fileName?: string): Promise<Attachment> {
    const FormDataCtor = globalFormData();
    if (!this.fetcher || !FormDataCtor)
      throw new OmnitalkError('disconnected', 'fetch and FormData are required to upload');
    if (!this.token) throw new OmnitalkError('disconnected', 'Connect before uploading');
    const form = new FormDataCtor();
    if (fileName === undefined) form.append('file', file);
    else form.append('file', file, fileName);
    const response = await this.fetcher(this.filesUrl(), { method: 'POST', body: form });
    const body = (await response.json()) as Attachment & {
      error?: { code: string; message: string; field: string };
    };
    if (!response.ok) {
      const e = body.error;
      throw new OmnitalkError(
        uploadErrorCode(response.status),
        e?.message ?? `Upload failed (${response.status})`,
        e?.field ?? 'file',
      );
    }
    return body;
  }

  /** Where the visitor's browser can load an attachment (an <img src>, a download link). */
  attachmentUrl(attachmentId: number): string {
    return `${this.filesUrl(`/${attachmentId}`)}`;
  }

  private filesUrl(suffix = ''): string {
    const base = this.options.server.replace(/\/+$/, '');
    const key = encodeURIComponent(this.options.siteKey);
    return `${base}/api/v1/widget/sites/${key}/attachments${suffix}?visitor_token=${encodeURIComponent(this.token ?? '')}`;
  }

  private deliver(message: VisitorMessage): void {
    if (this.seen.add(message.id)) this.emit('message', message);
  }

  private onWelcome(welcome: VisitorWelcome): void {
    this.visitorId = welcome.visitor.id;
    if (welcome.visitor.token) {
      this.token = welcome.visitor.token;
      void Promise.resolve(this.storage.setItem(this.tokenKey, welcome.visitor.token)).catch(() => {});
    }
    this.dialog = welcome.dialog;
    this.operatorsOnline = welcome.operators_online;
    this.emit('welcome', welcome);
    for (const w of this.welcomeWaiters.splice(0)) w.resolve(welcome);
    for (const message of welcome.messages) this.deliver(message);
    this.queue.flush();
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message.new':
        this.deliver(frame.message as VisitorMessage);
        return;
      case 'dialog.updated':
        this.dialog = frame.dialog as VisitorDialog;
        this.emit('dialog', this.dialog);
        return;
      case 'typing':
        this.emit('typing', frame as unknown as TypingEvent);
        return;
      case 'read':
        this.emit('read', frame as unknown as ReadEvent);
        return;
      case 'resync':
        void this.history()
          .then((page) => {
            for (const message of page.items) this.deliver(message);
            this.emit('resync', undefined);
          })
          .catch(() => {});
        return;
    }
  }
}

/** What a failed upload's HTTP status means, in the protocol's error codes (docs/chat-protocol.md). */
export function uploadErrorCode(status: number): ProtocolErrorCode {
  if (status === 413) return 'too_large';
  if (status === 400 || status === 415 || status === 422) return 'invalid_message';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  return 'internal';
}
