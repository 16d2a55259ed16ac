/** ws(s):// URL of a socket endpoint on an http(s):// server. */
export function socketUrl(server: string, path: string): string {
  const base = server.replace(/\/+$/, '');
  if (/^wss?:\/\//.test(base)) return base + path;
  return base.replace(/^http/, 'ws') + path;
}

/** Message ids already shown (an ack and its live copy arrive both); bounded, oldest forgotten first. */
export class SeenIds {
  private readonly ids = new Set<number>();
  constructor(private readonly max = 5000) {}

  /** True when the id is new. */
  add(id: number): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.max) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }
}
