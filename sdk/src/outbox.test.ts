import { describe, expect, it } from 'vitest';
import { Outbox } from './outbox.ts';
import { memoryStorage } from './runtime.ts';
import { SeenIds, socketUrl } from './util.ts';

const item = (id: string) => ({ client_id: id, text: id, created_at: '2026-01-01T00:00:00Z' });

describe('Outbox', () => {
  it('keeps unsent messages in order across a reload, once each (a send before the load keeps both)', async () => {
    const storage = memoryStorage();
    const first = new Outbox(storage, 'k');
    await first.load();
    first.add(item('a'));
    first.add(item('b'));
    first.add(item('a'));
    expect(first.list().map((i) => i.client_id)).toEqual(['a', 'b']);
    const reloaded = new Outbox(storage, 'k');
    reloaded.add(item('c'));
    await reloaded.load();
    expect(reloaded.list().map((i) => i.client_id)).toEqual(['a', 'b', 'c']);
    reloaded.remove('a');
    reloaded.remove('b');
    reloaded.remove('c');
    expect(storage.getItem('k')).toBeNull();
  });

  it('survives unreadable or failing storage', async () => {
    const broken = {
      getItem: () => 'not json',
      setItem: () => {
        throw new Error('quota');
      },
      removeItem: () => Promise.reject(new Error('denied')),
    };
    const outbox = new Outbox(broken, 'k');
    await outbox.load();
    outbox.add(item('a'));
    outbox.remove('a');
    expect(outbox.list()).toEqual([]);
  });
});

describe('helpers', () => {
  it('derives socket URLs from the server URL', () => {
    expect(socketUrl('https://chat.example.com/', '/ws/visitor')).toBe('wss://chat.example.com/ws/visitor');
    expect(socketUrl('http://localhost:8080', '/ws/operator')).toBe('ws://localhost:8080/ws/operator');
    expect(socketUrl('wss://x.example', '/ws/visitor')).toBe('wss://x.example/ws/visitor');
  });

  it('remembers shown message ids, forgetting the oldest beyond its bound', () => {
    const seen = new SeenIds(2);
    expect([seen.add(1), seen.add(1), seen.add(2), seen.add(3), seen.add(1)]).toEqual([
      true,
      false,
      true,
      true,
      true,
    ]);
  });
});
