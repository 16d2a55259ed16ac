import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  memoryStorage,
  OmnitalkError,
  OmnitalkOperator,
  OmnitalkVisitor,
  type OperatorMessage,
  type VisitorMessage,
  type WebSocketLike,
} from '../../sdk/src/index.ts';
import { backends } from '../support/db.ts';
import { type ChatWorld, chatWorld } from './setup.ts';
import { eventually } from './support.ts';

/** Node 20 has no global WebSocket: the SDK takes the `ws` package, as a browser or React Native gives theirs. */
const fast = { backoff: { initialMs: 20, maxMs: 200 }, WebSocket: WebSocket as never };

function nextEvent<T>(
  subscribe: (listener: (value: T) => void) => () => void,
  match: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('event did not come')), 5000);
    const off = subscribe((value) => {
      if (!match(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

describe.each(backends)('the SDK against a real server on $name', (backend) => {
  let w: ChatWorld;
  const clients: { close(): void }[] = [];
  beforeAll(async () => {
    w = await chatWorld(backend, { operators: 1 });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await w.close();
  });

  const visitor = (options: Partial<ConstructorParameters<typeof OmnitalkVisitor>[0]> = {}) => {
    const client = new OmnitalkVisitor({ server: w.base, siteKey: w.site.public_key, ...fast, ...options });
    clients.push(client);
    return client;
  };
  const operator = () => {
    const client = new OmnitalkOperator({
      server: w.base,
      ...fast,
      createSocket: (url) =>
        new WebSocket(url, { headers: { cookie: w.operators[0]!.cookie } }) as unknown as WebSocketLike,
    });
    clients.push(client);
    return client;
  };
  const countMessages = async (visitorId: number) =>
    (await w.t.ctx.db.selectFrom('chat_messages').select('id').where('visitor_id', '=', visitorId).execute())
      .length;

  it('chats both ways with typed events, typing and read marks', async () => {
    const op = operator();
    const opWelcome = await op.connect();
    expect(opWelcome.status).toBe('online');
    const v = visitor({ page: () => ({ url: 'https://shop.example/', title: 'Магазин' }) });
    const welcome = await v.connect();
    expect(welcome.operators_online).toBe(true);
    expect(v.state).toBe('online');

    const incoming = nextEvent<OperatorMessage>(
      (l) => op.on('message', l),
      (m) => m.text === 'Привет из SDK',
    );
    const sent = await v.send('Привет из SDK');
    expect(sent).toMatchObject({ author: 'visitor', text: 'Привет из SDK' });
    const seen = await incoming;
    expect(seen.id).toBe(sent.id);

    const typing = nextEvent((l) => v.on('typing', l));
    op.typing(seen.dialog_id, true);
    expect(await typing).toMatchObject({ by: 'operator', on: true });
    const answer = nextEvent<VisitorMessage>(
      (l) => v.on('message', l),
      (m) => m.author === 'operator',
    );
    await op.send(seen.dialog_id, 'Ответ оператора');
    expect((await answer).text).toBe('Ответ оператора');
    const read = nextEvent((l) => op.on('read', l));
    expect(await v.markRead((await answer).id)).toBe((await answer).id);
    expect(await read).toMatchObject({ by: 'visitor', dialog_id: seen.dialog_id });

    const page = await op.history(seen.dialog_id);
    expect(page.items.map((m) => m.text)).toEqual(['Привет из SDK', 'Ответ оператора']);
    const contact = await v.submitContact({ name: 'Ольга', phone: '8 916 000-11-22' });
    expect(contact).toEqual({ name: 'Ольга', phone: '+79160001122', email: null });
    const closed = await op.closeDialog(seen.dialog_id);
    expect(closed.status).toBe('closed');
    v.close();
    op.close();
    expect(v.state).toBe('closed');
  });

  it('keeps the visitor across reconnects through its stored token', async () => {
    const storage = memoryStorage();
    const first = visitor({ storage });
    const a = await first.connect();
    first.close();
    const second = visitor({ storage });
    const b = await second.connect();
    expect(b.visitor.id).toBe(a.visitor.id);
    expect(b.visitor.token).toBeNull();
    second.close();
  });

  it('resends unsent messages after the socket drops, storing each once', async () => {
    // A socket wrapper that swallows the first message.send ack and then drops the connection: the
    // server stored the message, the client never heard back — the case resending must not duplicate.
    let swallowed = false;
    const lossy = (url: string): WebSocketLike => {
      const inner = new WebSocket(url);
      const outer: WebSocketLike = {
        get readyState() {
          return inner.readyState;
        },
        send: (data) => inner.send(data),
        close: (code, reason) => inner.close(code, reason),
        onopen: null,
        onmessage: null,
        onclose: null,
        onerror: null,
      };
      inner.onopen = (event) => outer.onopen?.(event);
      inner.onerror = (event) => outer.onerror?.(event);
      inner.onclose = (event) => outer.onclose?.({ code: event.code, reason: event.reason });
      inner.onmessage = (event) => {
        const frame = JSON.parse(String(event.data));
        if (!swallowed && frame.type === 'ack' && frame.data?.client_id) {
          swallowed = true;
          inner.close(4000, 'simulated drop');
          return;
        }
        outer.onmessage?.({ data: event.data });
      };
      return outer;
    };
    const v = visitor({ createSocket: lossy });
    const welcome = await v.connect();
    const message = await v.send('дошло один раз');
    expect(swallowed).toBe(true);
    expect(message.text).toBe('дошло один раз');
    expect(await countMessages(welcome.visitor.id)).toBe(1);
    expect(v.pending()).toEqual([]);

    // The server drops every socket: the client reconnects by itself and sends what was queued meanwhile.
    for (const client of w.t.app.websocketServer.clients) client.terminate();
    const queued = v.send('после обрыва');
    expect((await queued).text).toBe('после обрыва');
    expect(await countMessages(welcome.visitor.id)).toBe(2);
    v.close();
  });

  it('sends after a reload what the previous page left in its outbox', async () => {
    const storage = memoryStorage();
    const before = visitor({ storage });
    await before.connect();
    const visitorId = before.visitorId!;
    before.close();
    // Written while offline (closed), then the page "reloads" with the same storage.
    const offline = visitor({ storage });
    void offline.send('написал без сети').catch(() => {});
    expect(offline.pending()).toHaveLength(1);
    await eventually(async () =>
      expect(await storage.getItem(`omnitalk:${w.site.public_key}:outbox`)).toContain('без сети'),
    );
    offline.close();
    const after = visitor({ storage });
    const got = nextEvent<VisitorMessage>(
      (l) => after.on('message', l),
      (m) => m.text === 'написал без сети',
    );
    await after.connect();
    expect((await got).author).toBe('visitor');
    expect(await countMessages(visitorId)).toBe(1);
    await eventually(async () => expect(after.pending()).toEqual([]));
    after.close();
  });

  it('rejects what the server refuses for good, and stops on a refused site key', async () => {
    const v = visitor();
    await v.connect();
    const refused = v.send('x'.repeat(6000));
    await expect(refused).rejects.toMatchObject({ code: 'too_large', field: 'text' });
    expect(v.pending()).toEqual([]);
    v.close();

    const wrong = visitor({ siteKey: 'st_nosuchkeynosuchkeynosuchkey' });
    const error = await wrong.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OmnitalkError);
    expect(error).toMatchObject({ code: 'unauthorized', field: 'site_key' });
    expect(wrong.state).toBe('closed');
  });

  it('reconnectNow replaces a live socket at once, keeps the session and answers with a caller-chosen client id', async () => {
    const sockets: WebSocketLike[] = [];
    const v = visitor({
      createSocket: (url) => {
        const socket = new WebSocket(url) as unknown as WebSocketLike;
        sockets.push(socket);
        return socket;
      },
    });
    const welcome = await v.connect();
    expect(sockets).toHaveLength(1);
    const again = nextEvent<unknown>((l) => v.on('welcome', l));
    v.reconnectNow();
    await again;
    expect(sockets).toHaveLength(2);
    expect(v.state).toBe('online');
    await eventually(async () => expect(sockets[0]!.readyState).toBe(3 /* CLOSED */));
    // The same visitor on the new socket, and a message sent with our own client id is stored under it.
    const sent = await v.send('После переподключения', { clientId: 'ui-42' });
    expect(sent).toMatchObject({ client_id: 'ui-42', text: 'После переподключения' });
    expect(await countMessages(welcome.visitor.id)).toBe(1);
    await expect(v.send('x', { clientId: '' })).rejects.toMatchObject({
      code: 'invalid_message',
      field: 'client_id',
    });
  });
});
