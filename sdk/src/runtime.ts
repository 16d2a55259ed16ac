/**
 * What the SDK needs from its environment, typed here so it compiles without DOM or Node typings:
 * browsers, React Native and Node (with an injected WebSocket) all provide these.
 */

/** The part of the standard WebSocket API the SDK uses (browser, React Native, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;
export type WebSocketFactory = (url: string) => WebSocketLike;

export const OPEN = 1;

/**
 * Key-value storage for the visitor token and unsent messages: `window.localStorage` in a browser,
 * `AsyncStorage` in React Native (promises are fine), or nothing (memory only).
 */
export interface StorageLike {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

export function memoryStorage(): StorageLike {
  const values = new Map<string, string>();
  return {
    getItem: (key) => values.get(key) ?? null,
    setItem: (key, value) => {
      values.set(key, value);
    },
    removeItem: (key) => {
      values.delete(key);
    },
  };
}

interface Timers {
  setTimeout(handler: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const host = globalThis as unknown as Timers & {
  WebSocket?: WebSocketConstructor;
  crypto?: { randomUUID?: () => string };
  fetch?: FetchLike;
  FormData?: new () => FormDataLike;
};

export const setTimer = (handler: () => void, ms: number): unknown => host.setTimeout(handler, ms);
export const clearTimer = (handle: unknown): void => {
  if (handle !== undefined && handle !== null) host.clearTimeout(handle);
};

export function defaultWebSocketFactory(ctor?: WebSocketConstructor): WebSocketFactory {
  const Ctor = ctor ?? host.WebSocket;
  if (!Ctor) {
    throw new Error(
      'No WebSocket implementation: this environment has no global WebSocket; pass one (e.g. the "ws" package) as the WebSocket option',
    );
  }
  return (url) => new Ctor(url);
}

/** A client message id: unique enough to tell one sender's messages apart, forever. */
export function newClientId(): string {
  const uuid = host.crypto?.randomUUID?.();
  if (uuid) return uuid;
  const random = () =>
    Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return `${Date.now().toString(16)}-${random()}-${random()}`;
}

export interface FetchResponseLike {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}
export type FetchLike = (
  url: string,
  init?: { method?: string; body?: unknown; headers?: Record<string, string> },
) => Promise<FetchResponseLike>;
export interface FormDataLike {
  append(name: string, value: unknown, fileName?: string): void;
}

export const globalFetch = (): FetchLike | undefined => host.fetch?.bind(globalThis) as FetchLike | undefined;
export const globalFormData = () => host.FormData;
