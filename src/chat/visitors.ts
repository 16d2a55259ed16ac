import type { Kysely } from 'kysely';
import { generateToken, hashToken } from '../accounts/tokens.ts';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, notFound } from '../shared/errors.ts';
import { publish } from './bus.ts';
import type { PublicSite } from './sites.ts';
import { type ContactView, type DialogView, dialogsQuery, dialogView } from './views.ts';
import { chatLimits } from './vocabulary.ts';

/**
 * Visitors (CH-2): a browser or app install chatting on a site, known by a secret token the widget
 * keeps in first-party storage. The token names exactly one visitor of one site; a token the site does
 * not know (another site's, or from a wiped install) gets a new visitor, never someone else's history.
 */

export const VISITOR_TOKEN_PREFIX = 'vt_';
/** Pages kept per visitor (the card shows the newest of them). */
export const PAGES_KEPT = 100;

export interface Visitor {
  id: number;
  accountId: number;
  siteId: number;
}

export async function visitorByToken(db: Kysely<DB>, siteId: number, token: string): Promise<Visitor | null> {
  if (!token.startsWith(VISITOR_TOKEN_PREFIX) || token.length > 200) return null;
  const row = await db
    .selectFrom('visitors')
    .select(['id', 'account_id', 'site_id'])
    .where('token_hash', '=', hashToken(token))
    .where('site_id', '=', siteId)
    .executeTakeFirst();
  return row ? { id: row.id, accountId: row.account_id, siteId: row.site_id } : null;
}

/** The visitor a token names on this site, or a new visitor (then `token` is its new secret). */
export async function identifyVisitor(
  db: Kysely<DB>,
  clock: Clock,
  site: PublicSite,
  token: string | undefined,
  userAgent: string,
): Promise<{ visitor: Visitor; token: string | null }> {
  const now = clock.now();
  const ua = userAgent.slice(0, chatLimits.userAgent);
  const known = token ? await visitorByToken(db, site.id, token) : null;
  if (known) {
    await db
      .updateTable('visitors')
      .set({ last_seen_at: now, ...(ua && { user_agent: ua }) })
      .where('id', '=', known.id)
      .execute();
    return { visitor: known, token: null };
  }
  const fresh = generateToken(VISITOR_TOKEN_PREFIX);
  const row = await db
    .insertInto('visitors')
    .values({
      account_id: site.account_id,
      site_id: site.id,
      token_hash: hashToken(fresh),
      user_agent: ua,
      first_seen_at: now,
      last_seen_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { visitor: { id: row.id, accountId: site.account_id, siteId: site.id }, token: fresh };
}

/** The visitor a token names, for the widget's HTTP requests (attachments). */
export async function requireVisitor(
  db: Kysely<DB>,
  site: PublicSite,
  token: string | undefined,
): Promise<Visitor> {
  if (!token) throw new AppError('unauthorized', 'A visitor token is required', { field: 'visitor_token' });
  const visitor = await visitorByToken(db, site.id, token);
  if (!visitor)
    throw new AppError('forbidden', 'Unknown visitor token for this site', { field: 'visitor_token' });
  return visitor;
}

function cleanUrl(raw: string): string {
  const text = raw.trim().slice(0, chatLimits.pageUrl);
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    return url.toString().slice(0, chatLimits.pageUrl);
  } catch {
    throw new AppError('validation_failed', 'url must be an http(s) address', { field: 'url' });
  }
}

/**
 * Records a page the visitor opened and keeps only the newest PAGES_KEPT of that visitor: every insert
 * trims the visitor's rows beyond the newest N through the (visitor_id, id) index, so the bound is exact
 * and the delete touches at most the one row that fell off. The visitor row is locked first, so two tabs
 * reporting at once take turns (otherwise each could trim without seeing the other's row).
 */
export async function recordPageView(
  db: Kysely<DB>,
  clock: Clock,
  visitor: Visitor,
  page: { url: string; title?: string },
): Promise<void> {
  const url = cleanUrl(page.url);
  const title = (page.title ?? '').trim().slice(0, chatLimits.pageTitle);
  await inTransaction(db, async (trx) => {
    await trx.selectFrom('visitors').select('id').where('id', '=', visitor.id).forNoKeyUpdate().execute();
    const last = await trx
      .selectFrom('visitor_pages')
      .select(['url', 'title'])
      .where('visitor_id', '=', visitor.id)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    // A reload of the same page is not a new visit.
    if (last && last.url === url && last.title === title) return;
    await trx
      .insertInto('visitor_pages')
      .values({ visitor_id: visitor.id, url, title, visited_at: clock.now() })
      .execute();
    await trx
      .deleteFrom('visitor_pages')
      .where('visitor_id', '=', visitor.id)
      .where('id', '<=', (eb) =>
        eb
          .selectFrom('visitor_pages')
          .select('id')
          .where('visitor_id', '=', visitor.id)
          .orderBy('id', 'desc')
          .offset(PAGES_KEPT)
          .limit(1),
      )
      .execute();
    await publish(trx, { t: 'visitor', a: visitor.accountId, v: visitor.id });
  });
}

export interface VisitorCard {
  visitor: {
    id: number;
    site_id: number;
    user_agent: string;
    first_seen_at: Date;
    last_seen_at: Date;
  } | null;
  channel: DialogView['channel'];
  address: string | null;
  contact: ContactView | null;
  pages: { url: string; title: string; visited_at: Date }[];
  dialogs: DialogView[];
  mailing: { id: number; name: string } | null;
}

/** What the operator sees beside a dialog (CH-3): contact, pages, channel, earlier dialogs. */
export async function dialogCard(db: Kysely<DB>, accountId: number, dialogId: number): Promise<VisitorCard> {
  const dialog = await dialogsQuery(db)
    .where('d.account_id', '=', accountId)
    .where('d.id', '=', dialogId)
    .executeTakeFirst();
  if (!dialog) throw notFound('Dialog', 'dialog_id');
  const visitor = dialog.visitor_id
    ? await db
        .selectFrom('visitors')
        .select(['id', 'site_id', 'user_agent', 'first_seen_at', 'last_seen_at'])
        .where('id', '=', dialog.visitor_id)
        .executeTakeFirst()
    : undefined;
  const pages = visitor
    ? await db
        .selectFrom('visitor_pages')
        .select(['url', 'title', 'visited_at'])
        .where('visitor_id', '=', visitor.id)
        .orderBy('id', 'desc')
        .limit(30)
        .execute()
    : [];
  let earlier = dialogsQuery(db).where('d.account_id', '=', accountId).orderBy('d.id', 'desc').limit(20);
  earlier = dialog.contact_id
    ? earlier.where((eb) =>
        eb.or([eb('d.contact_id', '=', dialog.contact_id), eb('d.visitor_id', '=', dialog.visitor_id ?? -1)]),
      )
    : dialog.visitor_id
      ? earlier.where('d.visitor_id', '=', dialog.visitor_id)
      : earlier.where('d.id', '=', dialog.id);
  const mailing = dialog.mailing_id
    ? await db
        .selectFrom('mailings')
        .select(['id', 'name'])
        .where('id', '=', dialog.mailing_id)
        .where('account_id', '=', accountId)
        .executeTakeFirst()
    : undefined;
  const view = dialogView(dialog);
  return {
    visitor: visitor ?? null,
    channel: view.channel,
    address: view.address,
    contact: view.contact,
    pages,
    dialogs: (await earlier.execute()).map(dialogView),
    mailing: mailing ?? null,
  };
}
