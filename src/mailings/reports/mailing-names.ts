import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

export interface MailingNames {
  name(mailingId: number): string;
  /** The A/B label of a variant; null when the mailing has no such variant row. */
  variantLabel(mailingId: number, variant: number): string | null;
}

/**
 * Names and variant labels for the mailings on one page of rows, in two small queries. Pages are read
 * from one table and labelled afterwards rather than joined, so a planner without statistics (PGlite
 * never analyzes on its own) cannot turn a page into a nested loop over the whole account.
 */
export async function mailingNames(
  db: Kysely<DB>,
  accountId: number,
  mailingIds: number[],
): Promise<MailingNames> {
  const ids = [...new Set(mailingIds)];
  const names = new Map<number, string>();
  const labels = new Map<string, string>();
  if (ids.length > 0) {
    const mailings = await db
      .selectFrom('mailings')
      .select(['id', 'name'])
      .where('account_id', '=', accountId)
      .where('id', 'in', ids)
      .execute();
    for (const m of mailings) names.set(m.id, m.name);
    const owned = mailings.map((m) => m.id);
    if (owned.length > 0) {
      const variants = await db
        .selectFrom('mailing_variants')
        .select(['mailing_id', 'variant', 'label'])
        .where('mailing_id', 'in', owned)
        .execute();
      for (const v of variants) labels.set(`${v.mailing_id}:${v.variant}`, v.label);
    }
  }
  return {
    name: (id) => names.get(id) ?? '',
    variantLabel: (id, variant) => labels.get(`${id}:${variant}`) ?? null,
  };
}
