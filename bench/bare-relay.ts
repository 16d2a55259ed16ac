/**
 * The ceiling for bench/chat: a bare WebSocket relay with the `ws` package and no persistence. It speaks
 * just enough of the chat protocol for the same load generator: `hello` → `welcome`; a visitor's
 * `message.send` → an `ack` to the visitor and one `message.new` to the next operator socket (round
 * robin). Frames are parsed and serialised as JSON, as the real server does.
 *
 *   node --import tsx bench/bare-relay.ts   (prints "listening on http://127.0.0.1:<port>")
 */
import { type WebSocket, WebSocketServer } from 'ws';

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  maxPayload: 1 << 20,
});
const operators: WebSocket[] = [];
let next = 0;
let messageId = 0;

wss.on('connection', (ws, request) => {
  const isOperator = request.url?.startsWith('/ws/operator') ?? false;
  const dialogId = ++messageId;
  ws.on('message', (data) => {
    let frame: { type?: string; id?: string; client_id?: string; text?: string };
    try {
      frame = JSON.parse(String(data));
    } catch {
      return;
    }
    if (frame.type === 'hello') {
      if (isOperator) operators.push(ws);
      ws.send(JSON.stringify({ v: 1, type: 'welcome', re: frame.id ?? null, protocol: 1 }));
      return;
    }
    if (frame.type === 'message.send' && !isOperator) {
      const message = {
        id: ++messageId,
        dialog_id: dialogId,
        author: 'visitor',
        author_name: null,
        text: frame.text ?? '',
        attachment: null,
        client_id: frame.client_id ?? null,
        created_at: new Date().toISOString(),
      };
      if (frame.id)
        ws.send(
          JSON.stringify({
            v: 1,
            type: 'ack',
            re: frame.id,
            data: { client_id: frame.client_id, message, duplicate: false },
          }),
        );
      if (operators.length > 0) {
        const operator = operators[next++ % operators.length]!;
        operator.send(JSON.stringify({ v: 1, type: 'message.new', message }));
      }
    }
  });
  ws.on('close', () => {
    const i = operators.indexOf(ws);
    if (i >= 0) operators.splice(i, 1);
  });
  ws.on('error', () => {});
});

wss.on('listening', () => {
  const address = wss.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
});

process.on('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  wss.close(() => process.exit(0));
});
