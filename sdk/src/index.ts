/**
 * @omnitalk/sdk — the client side of the omnitalk chat protocol v1 (docs/chat-protocol.md).
 * Runs wherever there is a WebSocket: browsers, React Native, Node (pass the "ws" package).
 */
export { type BackoffOptions, backoffDelay, defaultBackoff } from './backoff.ts';
export { Connection, type ConnectionState } from './connection.ts';
export { Emitter } from './emitter.ts';
export { isRetryable, OmnitalkError } from './errors.ts';
export { OmnitalkOperator, type OperatorClientOptions, type OperatorEvents } from './operator.ts';
export { Outbox, type PendingMessage } from './outbox.ts';
export * from './protocol.ts';
export {
  type FetchLike,
  memoryStorage,
  newClientId,
  type StorageLike,
  type WebSocketConstructor,
  type WebSocketFactory,
  type WebSocketLike,
} from './runtime.ts';
export { OmnitalkVisitor, type VisitorClientOptions, type VisitorEvents } from './visitor.ts';
