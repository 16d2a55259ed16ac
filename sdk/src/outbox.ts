import type { StorageLike } from './runtime.ts';

/** A message the app asked to send that the server has not acknowledged yet. */
export interface PendingMessage {
  client_id: string;
  text: string;
  attachment_id?: number;
  dialog_id?: number;
  created_at: string;
}

/**
 * Unsent messages, in the order they were written, kept in storage so a page reload or an app restart
 * does not lose them. The server stores a client_id once, so resending an entry that did arrive (its
 * ack was lost) is harmless.
 */
export class Outbox {
  private items: PendingMessage[] = [];
  /** Writes wait for the first load, so a send before it cannot overwrite what an earlier session left. */
  private loaded = false;

  constructor(
    private readonly storage: StorageLike | null,
    private readonly key: string,
  ) {}

  /** Adds what an earlier page or app session left unsent. */
  async load(): Promise<void> {
    if (!this.storage) return;
    if (this.loaded) return;
    try {
      const raw = await this.storage.getItem(this.key);
      const saved = raw ? (JSON.parse(raw) as PendingMessage[]) : [];
      if (!Array.isArray(saved)) return;
      const known = new Set(this.items.map((i) => i.client_id));
      const restored = saved.filter((i) => typeof i?.client_id === 'string' && !known.has(i.client_id));
      this.items = [...restored, ...this.items];
    } catch {
      // Unreadable storage is an empty outbox, not a broken chat.
    }
    this.loaded = true;
    this.persist();
  }

  list(): readonly PendingMessage[] {
    return this.items;
  }

  has(clientId: string): boolean {
    return this.items.some((i) => i.client_id === clientId);
  }

  add(item: PendingMessage): void {
    if (this.has(item.client_id)) return;
    this.items.push(item);
    this.persist();
  }

  remove(clientId: string): void {
    const before = this.items.length;
    this.items = this.items.filter((i) => i.client_id !== clientId);
    if (this.items.length !== before) this.persist();
  }

  private persist(): void {
    if (!this.storage || !this.loaded) return;
    const write = () =>
      this.items.length === 0
        ? this.storage!.removeItem(this.key)
        : this.storage!.setItem(this.key, JSON.stringify(this.items));
    try {
      Promise.resolve(write()).catch(() => {});
    } catch {
      // Storage full or denied: the messages stay in memory and are still sent.
    }
  }
}
