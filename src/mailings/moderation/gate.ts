import { type Kysely, sql } from 'kysely';
import type { DB, ModerationStatus, SenderChannel, TemplateChannel } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError, invalid } from '../../shared/errors.ts';
import type { Scheme, SendBlock } from '../scheme/model.ts';
import { compileTemplate } from '../scheme/service-template.ts';
import type { SendChannel } from '../scheme/vocabulary.ts';
import type { MailingInput } from '../settings.ts';
import { lockModeration, markSubmitted } from './lifecycle.ts';
import { type TemplateMatcher, textCovered } from './template-cover.ts';
import { letterChannels } from './vocabulary.ts';

/**
 * The moderation gate of mailings (SPEC ML: "Sending needs an approved sender, and for VK/OK/WhatsApp a
 * text that matches an approved template"). The rules:
 *
 * - A send block that names no `sender` (and, for VK/OK, no `templateId`) goes through the install's
 *   default sender (the sandbox in a sandbox install) and needs no moderation: such mailings run as
 *   before.
 * - A block naming a `sender` needs the account's sender of that channel and name to be approved. A
 *   VK/OK block naming a `sender` or a `templateId` also needs its text to match an approved template of
 *   the account for that channel (the pinned one when `templateId` is given); contact variables in the
 *   text may stand for any words or numbers (template-cover.ts).
 * - Creating a mailing refuses an item that can never pass as it is: an unknown or rejected sender, a
 *   text that matches no template (or only rejected ones), an unknown pinned template. The error names
 *   the field: `scheme.blocks.<block>.content.sender` (`variants.<i>.scheme.…` for A/B variants,
 *   `single.content.…` for a single-channel mailing).
 * - Starting a mailing checks again. Items still in draft are submitted for moderation by the start
 *   (a VK/OK sender needs its signed letter first). If anything is not approved yet, the mailing's
 *   recipients are built as usual but the mailing goes to status on_moderation instead of
 *   scheduled/running; the engine moves only running mailings, so nothing is sent, and the report counts
 *   those recipients as "on moderation". `settings.moderation` on the mailing lists what it waits for.
 * - After every moderation change of an account its waiting mailings are checked again: when the last
 *   missing item is approved the mailing becomes scheduled (its start time stays; the engine's
 *   activateScheduled runs it at once when that time has passed — recipients whose send time passed
 *   while it waited go out then, within the send window). A rejection leaves the mailing on moderation
 *   with `settings.moderation.state = "rejected"` and the moderator's reason on the item; the account
 *   fixes and resubmits the item (the mailing then moves on when it is approved) or cancels the mailing.
 */

export type NeedStatus = Exclude<ModerationStatus, 'approved'> | 'missing';

/** One item a mailing waits for (or that blocks it). */
export interface ModerationNeed {
  /** The input field the item comes from, e.g. scheme.blocks.vk.content.sender. */
  field: string;
  kind: 'sender' | 'template';
  channel: SendChannel;
  /** The sender or template id; null when there is none. */
  id: number | null;
  /** The sender name, or the block's text for a template. */
  name: string;
  status: NeedStatus;
  /** The moderator's reason of a rejection. */
  reason: string | null;
  message: string;
}

export interface MailingModeration {
  /** waiting: items are on moderation; rejected: an item was rejected or is gone; approved: released. */
  state: 'waiting' | 'rejected' | 'approved';
  checked_at: string;
  items: ModerationNeed[];
}

interface BlockRef {
  /** Path of the block's content in the mailing input, e.g. scheme.blocks.vk.content. */
  field: string;
  block: SendBlock;
}

/** Every send block of the mailing's schemes, with the input path of its content. */
export function sendBlocksOf(
  input: Pick<MailingInput, 'single' | 'variants'>,
  schemes: Scheme[],
): BlockRef[] {
  return schemes.flatMap((scheme, vi) =>
    scheme.blocks
      .filter((b): b is SendBlock => b.kind === 'send')
      .map((block) => ({
        block,
        field: input.single
          ? 'single.content'
          : input.variants
            ? `variants.${vi}.scheme.blocks.${block.id}.content`
            : `scheme.blocks.${block.id}.content`,
      })),
  );
}

const blocking = (n: ModerationNeed) => n.status === 'rejected' || n.status === 'missing';

/** The items of these blocks that are not approved, in block order (empty: the mailing may run). */
export async function moderationNeeds(
  db: Kysely<DB>,
  accountId: number,
  refs: BlockRef[],
): Promise<ModerationNeed[]> {
  const named = refs.filter((r) => senderOf(r.block) !== undefined || templateIdOf(r.block) !== undefined);
  if (named.length === 0) return [];
  const names = [...new Set(named.map((r) => senderOf(r.block)).filter((n) => n !== undefined))];
  const senders = names.length
    ? await db
        .selectFrom('senders')
        .select(['id', 'channel', 'name', 'status', 'reject_reason'])
        .where('account_id', '=', accountId)
        .where('name', 'in', names)
        .execute()
    : [];
  const templateChannelsUsed = [
    ...new Set(named.map((r) => r.block.channel).filter((c): c is 'vk' | 'ok' => c === 'vk' || c === 'ok')),
  ];
  const templates = templateChannelsUsed.length
    ? await db
        .selectFrom('message_templates')
        .select(['id', 'channel', 'text', 'status', 'reject_reason'])
        .where('account_id', '=', accountId)
        .where('channel', 'in', templateChannelsUsed)
        .orderBy('id')
        .execute()
    : [];
  const compiled = new Map<number, TemplateMatcher>();
  const matcher = (t: { id: number; text: string }) => {
    let m = compiled.get(t.id);
    if (!m) {
      m = compileTemplate(t.text);
      compiled.set(t.id, m);
    }
    return m;
  };

  const needs: ModerationNeed[] = [];
  for (const { field, block } of named) {
    const senderName = senderOf(block);
    if (senderName !== undefined) {
      const s = senders.find((x) => x.channel === (block.channel as SenderChannel) && x.name === senderName);
      const base = {
        field: `${field}.sender`,
        kind: 'sender' as const,
        channel: block.channel,
        name: senderName,
      };
      if (!s) {
        needs.push({
          ...base,
          id: null,
          status: 'missing',
          reason: null,
          message: `No ${block.channel} sender "${senderName}" is registered; add it and submit it for moderation`,
        });
      } else if (s.status !== 'approved') {
        needs.push({
          ...base,
          id: s.id,
          status: s.status,
          reason: s.reject_reason,
          message:
            s.status === 'rejected'
              ? `Sender "${senderName}" was rejected: ${s.reject_reason}`
              : `Sender "${senderName}" is ${s.status === 'draft' ? 'a draft, not submitted for moderation' : 'on moderation'}`,
        });
      }
    }
    if (block.channel !== 'vk' && block.channel !== 'ok') continue;
    const text = block.content.text;
    const ofChannel = templates.filter((t) => t.channel === (block.channel as TemplateChannel));
    const base = { kind: 'template' as const, channel: block.channel, name: text };
    const pinned = templateIdOf(block);
    if (pinned !== undefined) {
      const t = /^\d{1,15}$/.test(pinned) ? ofChannel.find((x) => x.id === Number(pinned)) : undefined;
      if (!t) {
        needs.push({
          ...base,
          field: `${field}.templateId`,
          id: null,
          status: 'missing',
          reason: null,
          message: `No ${block.channel} template ${pinned} in this account`,
        });
        continue;
      }
      if (!textCovered(matcher(t), text)) {
        needs.push({
          ...base,
          field: `${field}.text`,
          id: t.id,
          status: 'missing',
          reason: null,
          message: `The text does not match template ${t.id}`,
        });
        continue;
      }
      if (t.status !== 'approved') needs.push({ ...base, field: `${field}.text`, ...templateNeed(t) });
      continue;
    }
    const covering = ofChannel.filter((t) => textCovered(matcher(t), text));
    const best = rank.map((status) => covering.find((t) => t.status === status)).find((t) => t !== undefined);
    if (!best) {
      needs.push({
        ...base,
        field: `${field}.text`,
        id: null,
        status: 'missing',
        reason: null,
        message: `The text matches no ${block.channel} template of the account; add one and submit it for moderation`,
      });
    } else if (best.status !== 'approved') {
      needs.push({ ...base, field: `${field}.text`, ...templateNeed(best) });
    }
  }
  return needs;
}

/** Which covering template speaks for a text: an approved one first, a rejected one last. */
const rank: readonly ModerationStatus[] = ['approved', 'on_moderation', 'draft', 'rejected'];

function templateNeed(t: { id: number; status: ModerationStatus; reject_reason: string | null }) {
  const status = t.status as Exclude<ModerationStatus, 'approved'>;
  return {
    id: t.id,
    status,
    reason: t.reject_reason,
    message:
      status === 'rejected'
        ? `The text matches only template ${t.id}, which was rejected: ${t.reject_reason}`
        : `The text matches template ${t.id}, which is ${status === 'draft' ? 'a draft, not submitted for moderation' : 'on moderation'}`,
  };
}

/**
 * The first mailing that has not ended (scheduled, running, paused, on moderation) whose scheme sends
 * as this sender: deleting the sender under it would let the engine keep sending with a name nobody
 * approved any more.
 */
export async function mailingUsingSender(
  db: Kysely<DB>,
  accountId: number,
  sender: { channel: string; name: string },
): Promise<number | null> {
  const active = await db
    .selectFrom('mailing_variants as v')
    .innerJoin('mailings as m', 'm.id', 'v.mailing_id')
    .select(['m.id', 'v.scheme'])
    .where('m.account_id', '=', accountId)
    .where('m.status', 'in', ['scheduled', 'running', 'paused', 'on_moderation'])
    .orderBy('m.id')
    .execute();
  for (const row of active) {
    const blocks = ((row.scheme as { blocks?: unknown[] } | null)?.blocks ?? []) as SendBlock[];
    const uses = blocks.some(
      (b) => b.kind === 'send' && b.channel === sender.channel && senderOf(b) === sender.name,
    );
    if (uses) return row.id;
  }
  return null;
}

function senderOf(block: SendBlock): string | undefined {
  const s = (block.content as { sender?: string }).sender;
  return s === undefined ? undefined : s.trim();
}

function templateIdOf(block: SendBlock): string | undefined {
  if (block.channel !== 'vk' && block.channel !== 'ok') return undefined;
  return block.content.templateId?.trim();
}

function refuse(needs: ModerationNeed[]): void {
  const bad = needs.filter(blocking);
  if (bad.length === 0) return;
  const more = bad.length > 1 ? ` (and ${bad.length - 1} more problems)` : '';
  throw new AppError('validation_failed', `${bad[0]!.message}${more}`, { field: bad[0]!.field, cause: bad });
}

/** At create time: refuses a sender or template that can never pass as it is (see the rules above). */
export async function checkMailingModeration(
  db: Kysely<DB>,
  accountId: number,
  input: MailingInput,
  schemes: Scheme[],
): Promise<void> {
  refuse(await moderationNeeds(db, accountId, sendBlocksOf(input, schemes)));
}

/**
 * At start (inside the start's transaction): refuses what can never pass, submits the drafts the
 * mailing needs, and answers what it waits for — null when everything is approved and it may run.
 */
export async function holdForModeration(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: MailingInput,
  schemes: Scheme[],
): Promise<MailingModeration | null> {
  const refs = sendBlocksOf(input, schemes);
  if (!refs.some((r) => senderOf(r.block) !== undefined || templateIdOf(r.block) !== undefined)) return null;
  await lockModeration(db, accountId);
  const needs = await moderationNeeds(db, accountId, refs);
  if (needs.length === 0) return null;
  refuse(needs);
  const drafts = needs.filter((n) => n.status === 'draft');
  const senderIds = [...new Set(drafts.filter((n) => n.kind === 'sender').map((n) => n.id!))];
  if (senderIds.length) {
    const unsigned = await db
      .selectFrom('senders')
      .select('id')
      .where('id', 'in', senderIds)
      .where('channel', 'in', letterChannels)
      .where('letter_file_name', 'is', null)
      .execute();
    const first = drafts.find((n) => n.kind === 'sender' && unsigned.some((u) => u.id === n.id));
    if (first)
      throw invalid(
        first.field,
        `Sender "${first.name}" needs its signed letter before it goes to moderation; upload it first`,
      );
  }
  await markSubmitted(db, clock, 'sender', accountId, senderIds);
  const templateIds = [...new Set(drafts.filter((n) => n.kind === 'template').map((n) => n.id!))];
  await markSubmitted(db, clock, 'template', accountId, templateIds);
  return {
    state: 'waiting',
    checked_at: clock.now().toISOString(),
    items: needs.map((n) => (n.status === 'draft' ? submittedNeed(n) : n)),
  };
}

function submittedNeed(n: ModerationNeed): ModerationNeed {
  const what = n.kind === 'sender' ? `Sender "${n.name}"` : `The text matches template ${n.id}, which`;
  return { ...n, status: 'on_moderation', message: `${what} is on moderation` };
}

/**
 * Checks the account's mailings on moderation again after a moderation change (the caller holds
 * lockModeration): a mailing whose items are all approved becomes scheduled; the others get their
 * current list of items. Answers the released mailings.
 */
export async function reviewWaitingMailings(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
): Promise<number[]> {
  const waiting = await db
    .selectFrom('mailings')
    .select(['id', 'settings'])
    .where('account_id', '=', accountId)
    .where('status', '=', 'on_moderation')
    .orderBy('id')
    .forUpdate()
    .execute();
  const released: number[] = [];
  const now = clock.now().toISOString();
  for (const m of waiting) {
    const variants = await db
      .selectFrom('mailing_variants')
      .select('scheme')
      .where('mailing_id', '=', m.id)
      .orderBy('variant')
      .execute();
    const input = (m.settings as { input: MailingInput }).input;
    const needs = await moderationNeeds(
      db,
      accountId,
      sendBlocksOf(
        input,
        variants.map((v) => v.scheme as Scheme),
      ),
    );
    const moderation: MailingModeration = {
      state: needs.length === 0 ? 'approved' : needs.some(blocking) ? 'rejected' : 'waiting',
      checked_at: now,
      items: needs,
    };
    const settings = sql<
      Record<string, unknown>
    >`jsonb_set(settings, '{moderation}', ${JSON.stringify(moderation)}::jsonb)`;
    if (needs.length === 0) {
      await db
        .updateTable('mailings')
        .set({ status: 'scheduled', settings })
        .where('id', '=', m.id)
        .execute();
      released.push(m.id);
    } else {
      await db.updateTable('mailings').set({ settings }).where('id', '=', m.id).execute();
    }
  }
  return released;
}
