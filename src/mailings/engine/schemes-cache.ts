import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Block, Link, Scheme } from '../scheme/model.ts';

export interface CompiledVariant {
  scheme: Scheme;
  blocks: Map<string, Block>;
  linksById: Map<string, Link>;
}

export interface CompiledMailing {
  id: number;
  accountId: number;
  variants: Map<number, CompiledVariant>;
  settings: EngineSettings;
  /** Replies to this mailing open or continue the contact's chat dialog (CH-5). */
  repliesToChat: boolean;
}

/** The parts of a mailing's settings the engine reads at run time (validated when the mailing was created). */
export interface EngineSettings {
  senderTimezone: string;
  window: { fromMinute: number; toMinute: number; weekdays: number[] } | null;
}

/**
 * Variants and settings never change once a mailing starts, so each worker compiles them once and keeps
 * them; a bounded map is enough (running mailings are few).
 */
export class SchemeCache {
  private readonly entries = new Map<number, CompiledMailing>();
  constructor(private readonly max = 500) {}

  async load(db: Kysely<DB>, mailingIds: number[]): Promise<Map<number, CompiledMailing>> {
    const missing = [...new Set(mailingIds)].filter((id) => !this.entries.has(id));
    if (missing.length > 0) {
      const mailings = await db
        .selectFrom('mailings')
        .select(['id', 'account_id', 'settings', 'replies_to_chat'])
        .where('id', 'in', missing)
        .execute();
      const variants = await db
        .selectFrom('mailing_variants')
        .select(['mailing_id', 'variant', 'scheme'])
        .where('mailing_id', 'in', missing)
        .execute();
      for (const m of mailings) {
        const compiled: CompiledMailing = {
          id: m.id,
          accountId: m.account_id,
          variants: new Map(),
          settings: (m.settings as { engine: EngineSettings }).engine,
          repliesToChat: m.replies_to_chat,
        };
        for (const v of variants.filter((x) => x.mailing_id === m.id)) {
          const scheme = v.scheme as Scheme;
          compiled.variants.set(v.variant, {
            scheme,
            blocks: new Map(scheme.blocks.map((b) => [b.id, b])),
            linksById: new Map(scheme.links.map((l) => [l.id, l])),
          });
        }
        if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as number);
        this.entries.set(m.id, compiled);
      }
    }
    const out = new Map<number, CompiledMailing>();
    for (const id of mailingIds) {
      const entry = this.entries.get(id);
      if (entry) out.set(id, entry);
    }
    return out;
  }
}
