import { type BackoffOptions, defaultBackoff } from './backoff.ts';
import { Connection, type ConnectionState } from './connection.ts';
import { Emitter } from './emitter.ts';
import type { OmnitalkError } from './errors.ts';
import { Outbox, type PendingMessage } from './outbox.ts';
import type {
  HistoryPage,
  OperatorDialog,
  OperatorMessage,
  OperatorNotification,
  OperatorPresence,
  OperatorStatus,
  OperatorWelcome,
  ReadEvent,
  ServerFrame,
  TypingEvent,
  VisitorCardUpdate,
} from './protocol.ts';
import {
  defaultWebSocketFactory,
  newClientId,
  type StorageLike,
  type WebSocketConstructor,
  type WebSocketFactory,
} from './runtime.ts';
import { SendQueue } from './send-queue.ts';
import { SeenIds, socketUrl } from './util.ts';

export interface OperatorClientOptions {
  server: string;
  /**
   * An API token or a session token, for clients that cannot send the session cookie or an
   * Authorization header with the upgrade (React Native, another origin). Omit in the operator web app.
   */
  token?: string;
  /** With an API token: act as this operator of the account. */
  userId?: number;
  /** The status to announce on every (re)connect; setStatus() changes it. Default online. */
  status?: OperatorStatus;
  /**
   * Which messages arrive live: `all` of the account (default), or `assigned` — only the dialogs
   * assigned to this operator and the waiting ones (for busy accounts).
   */
  scope?: 'all' | 'assigned';
  WebSocket?: WebSocketConstructor;
  createSocket?: WebSocketFactory;
  /** Keeps unsent answers across app restarts; memory by default. */
  storage?: StorageLike;
  backoff?: Partial<BackoffOptions>;
  requestTimeoutMs?: number;
}

export interface OperatorEvents {
  state: ConnectionState;
  welcome: OperatorWelcome;
  /** A new message in any dialog of the account. */
  message: OperatorMessage;
  /** A message changed (an answer on a channel was sent or failed). */
  messageUpdated: OperatorMessage;
  dialog: OperatorDialog;
  typing: TypingEvent;
  read: ReadEvent;
  presence: OperatorPresence;
  visitor: VisitorCardUpdate;
  /** A notice for this operator only (an incoming or finished call routed to them). */
  notification: OperatorNotification;
  error: OmnitalkError;
  /** Live events may have been missed: reload what is on screen. */
  resync: undefined;
}

/** The operator side of the chat: what the operator app (web or mobile) uses. */
export class OmnitalkOperator extends Emitter<OperatorEvents> {
  status: OperatorStatus;
  private readonly connection: Connection;
  private readonly queue: SendQueue<OperatorMessage>;
  private readonly seen = new SeenIds();
  private readonly loaded: Promise<void>;
  private welcomeWaiters: { resolve: (w: OperatorWelcome) => void; reject: (e: OmnitalkError) => void }[] =
    [];

  constructor(options: OperatorClientOptions) {
    super();
    this.status = options.status ?? 'online';
    this.connection = new Connection({
      url: socketUrl(options.server, '/ws/operator'),
      createSocket: options.createSocket ?? defaultWebSocketFactory(options.WebSocket),
      backoff: { ...defaultBackoff, ...options.backoff },
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      hello: () => ({
        type: 'hello',
        status: this.status,
        ...(options.token && { token: options.token }),
        ...(options.userId !== undefined && { user_id: options.userId }),
        ...(options.scope && { scope: options.scope }),
      }),
    });
    this.queue = new SendQueue<OperatorMessage>(
      this.connection,
      new Outbox(options.storage ?? null, `omnitalk:operator:${options.userId ?? 'me'}:outbox`),
      (p) => ({
        dialog_id: p.dialog_id,
        client_id: p.client_id,
        text: p.text,
        ...(p.attachment_id && { attachment_id: p.attachment_id }),
      }),
      (message) => this.deliver(message),
      (error) => this.emit('error', error),
    );
    this.loaded = this.queue.outbox.load();
    this.connection.on('state', (state) => this.emit('state', state));
    this.connection.on('welcome', (frame) => this.onWelcome(frame as unknown as OperatorWelcome));
    this.connection.on('frame', (frame) => this.onFrame(frame));
    this.connection.on('serverError', (error) => this.emit('error', error));
    this.connection.on('fatal', (error) => {
      for (const w of this.welcomeWaiters.splice(0)) w.reject(error);
      this.emit('error', error);
    });
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  async connect(): Promise<OperatorWelcome> {
    await this.loaded;
    const welcome = new Promise<OperatorWelcome>((resolve, reject) =>
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

  /** Answers in a dialog; kept until acknowledged, resent after reconnects, stored once. */
  send(dialogId: number, text: string, options: { attachmentId?: number } = {}): Promise<OperatorMessage> {
    const pending: PendingMessage = {
      client_id: newClientId(),
      dialog_id: dialogId,
      text,
      ...(options.attachmentId && { attachment_id: options.attachmentId }),
      created_at: new Date().toISOString(),
    };
    return this.queue.enqueue(pending);
  }

  pending(): readonly PendingMessage[] {
    return this.queue.outbox.list();
  }

  async setStatus(status: OperatorStatus): Promise<void> {
    this.status = status;
    await this.connection.request({ type: 'status.set', status });
  }

  typing(dialogId: number, on: boolean): void {
    this.connection.notify({ type: 'typing', dialog_id: dialogId, on });
  }

  async markRead(dialogId: number, upTo: number): Promise<number | null> {
    const data = await this.connection.request({ type: 'read', dialog_id: dialogId, up_to: upTo });
    return (data.up_to as number | null) ?? null;
  }

  async take(dialogId: number): Promise<OperatorDialog> {
    return (await this.connection.request({ type: 'dialog.take', dialog_id: dialogId }))
      .dialog as OperatorDialog;
  }

  async transfer(dialogId: number, toUserId: number): Promise<OperatorDialog> {
    const data = await this.connection.request({
      type: 'dialog.transfer',
      dialog_id: dialogId,
      to_user_id: toUserId,
    });
    return data.dialog as OperatorDialog;
  }

  async closeDialog(dialogId: number): Promise<OperatorDialog> {
    return (await this.connection.request({ type: 'dialog.close', dialog_id: dialogId }))
      .dialog as OperatorDialog;
  }

  async history(
    dialogId: number,
    page: { before?: number; limit?: number } = {},
  ): Promise<HistoryPage<OperatorMessage>> {
    const data = await this.connection.request({ type: 'history', dialog_id: dialogId, ...page });
    return data as unknown as HistoryPage<OperatorMessage>;
  }

  private deliver(message: OperatorMessage): void {
    if (this.seen.add(message.id)) this.emit('message', message);
  }

  private onWelcome(welcome: OperatorWelcome): void {
    this.status = welcome.status;
    this.emit('welcome', welcome);
    for (const w of this.welcomeWaiters.splice(0)) w.resolve(welcome);
    this.queue.flush();
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message.new':
        this.deliver(frame.message as OperatorMessage);
        return;
      case 'message.updated':
        this.emit('messageUpdated', frame.message as OperatorMessage);
        return;
      case 'dialog.updated':
        this.emit('dialog', frame.dialog as OperatorDialog);
        return;
      case 'typing':
        this.emit('typing', frame as unknown as TypingEvent);
        return;
      case 'read':
        this.emit('read', frame as unknown as ReadEvent);
        return;
      case 'presence':
        this.emit('presence', frame.operator as OperatorPresence);
        return;
      case 'visitor.updated':
        this.emit('visitor', frame.visitor as VisitorCardUpdate);
        return;
      case 'notification':
        this.emit('notification', {
          kind: frame.kind,
          dialog_id: frame.dialog_id,
          text: frame.text,
          phone: frame.phone,
        } as OperatorNotification);
        return;
      case 'resync':
        this.emit('resync', undefined);
        return;
    }
  }
}
