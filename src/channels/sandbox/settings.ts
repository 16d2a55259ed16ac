import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { DB } from '../../db/schema.ts';
import {
  channelStatuses,
  errorReasons,
  ivrKeys,
  type SendChannel,
} from '../../mailings/scheme/vocabulary.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError } from '../../shared/errors.ts';

/**
 * How the sandbox providers behave for one account (NF-3), declared as a schema: it validates what
 * the cabinet or the API saves, fills in defaults for whatever is left out, and its JSON Schema
 * (sandboxSettingsJsonSchema) drives the settings form. There are no secret fields.
 *
 * Per channel:
 * - `outcomes`: the share of accepted messages that *stop at* each status, summing to 1. For Viber,
 *   `viewed: 0.25` means a quarter of the messages are delivered and viewed but never clicked; the
 *   flags (spam, unsubscribed) are raised after the message was delivered and viewed; a voice
 *   `unsubscribed` is a key press on the menu's "unsubscribe" key.
 * - `delaysSec`: for each status, how long after the previous step it arrives (the first step counts
 *   from the submit), drawn uniformly from [min, max] whole seconds. Every step takes at least a
 *   second, so a timeline's times strictly increase.
 * - `reply` (not voice): the chance that a delivered, unflagged message gets a text reply, when
 *   (after the message's last status) and which text (uniformly from `texts`).
 * - `ivrDigits` (voice): which key a caller who uses the menu presses, as shares.
 * - `submitError`: the chance that the provider refuses the message outright, and why.
 * - `seed`: the same seed and idempotency key always simulate the same story.
 */

const SUM_TOLERANCE = 1e-6;
/** Past the longest decision time (72 h) a status changes nothing; a week leaves room. */
export const MAX_DELAY_SEC = 7 * 24 * 60 * 60;
const MAX_REPLY_TEXTS = 50;
const MAX_REPLY_TEXT = 1000;

export interface DelayRange {
  min: number;
  max: number;
}

/** zod's message when a field is missing or of the wrong type. */
const required = (expected: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : `must be ${expected}`;

const object = <S extends z.core.$ZodLooseShape>(shape: S) =>
  z.strictObject(shape, { error: required('an object') });

const share = z
  .number({ error: required('a number from 0 to 1') })
  .min(0, { error: 'must be at least 0' })
  .max(1, { error: 'must be at most 1' });

const round = (value: number) => Math.round(value * 1e6) / 1e6;

/** Shares over `keys` that add up to 1; a share left out of a given object is 0. */
function sharesOf<const K extends string>(keys: readonly K[], defaults: Partial<Record<K, number>>) {
  type Shape = Record<K, z.ZodDefault<typeof share>>;
  const shape = {} as Shape;
  const full = {} as Record<K, number>;
  for (const key of keys) {
    shape[key] = share.default(0);
    full[key] = defaults[key] ?? 0;
  }
  return (
    object(shape)
      .superRefine((value, ctx) => {
        const sum = (keys as readonly K[]).reduce(
          (total, key) => total + (value as Record<K, number>)[key],
          0,
        );
        if (Math.abs(sum - 1) > SUM_TOLERANCE) {
          ctx.addIssue({ code: 'custom', message: `must add up to 1 (they add up to ${round(sum)})` });
        }
      })
      // zod cannot relate a generic shape's output to itself; the instantiated types are exact.
      .default(() => ({ ...full }) as never)
  );
}

const seconds = z
  .int({ error: required('a whole number of seconds') })
  .min(1, { error: 'must be at least 1 second' })
  .max(MAX_DELAY_SEC, { error: `must be at most ${MAX_DELAY_SEC} seconds (7 days)` });

const delayRange = (defaults: DelayRange) =>
  object({ min: seconds, max: seconds })
    .refine((range) => range.min <= range.max, { error: 'must not be less than min', path: ['max'] })
    .default(() => ({ ...defaults }));

function delaysOf<const K extends string>(keys: readonly K[], defaults: Record<K, DelayRange>) {
  type Shape = Record<K, ReturnType<typeof delayRange>>;
  const shape = {} as Shape;
  for (const key of keys) shape[key] = delayRange(defaults[key]);
  return object(shape).prefault(() => ({}) as never);
}

const replyText = z
  .string({ error: required('a string') })
  .max(MAX_REPLY_TEXT, { error: `must be at most ${MAX_REPLY_TEXT} characters` })
  .refine((text) => text.trim().length > 0, { error: 'must not be blank' });

interface ReplyDefaults {
  probability: number;
  delaySec: DelayRange;
  texts: string[];
}

const replySchema = (defaults: ReplyDefaults) =>
  object({
    probability: share.default(defaults.probability),
    delaySec: delayRange(defaults.delaySec),
    texts: z
      .array(replyText, { error: required('a list of texts') })
      .min(1, { error: 'must list at least one text' })
      .max(MAX_REPLY_TEXTS, { error: `must list at most ${MAX_REPLY_TEXTS} texts` })
      .default(() => [...defaults.texts]),
  }).prefault({});

const submitErrorSchema = (probability: number) =>
  object({
    probability: share.default(probability),
    reasons: sharesOf(errorReasons, { invalid_number: 1 }),
  }).prefault({});

/** What people write back to a business message (CH-5); "Стоп" is how SMS users unsubscribe. */
const replyTexts = ['Да', 'Да, интересно', 'Нет', 'Спасибо', 'Перезвоните мне', 'Сколько стоит?', 'Стоп'];
const reply = (probability: number): ReplyDefaults => ({
  probability,
  delaySec: { min: 30, max: 1800 },
  texts: replyTexts,
});

/**
 * Defaults that look like reality in Russia: about 60% of numbers have Viber, so ~40% of Viber
 * messages are undelivered; SMS reaches ~95%; a robot call is answered about half the time; VK and
 * OK reach only their users (OK fewer). Delivery receipts come in seconds, views in minutes to hours.
 */
export const sandboxDefaults = {
  sms: {
    outcomes: { delivered: 0.92, clicked: 0.03, undelivered: 0.05 },
    delaysSec: {
      delivered: { min: 3, max: 60 },
      clicked: { min: 30, max: 3600 },
      undelivered: { min: 60, max: 1800 },
    },
    reply: reply(0.03),
    submitError: 0.01,
  },
  viber: {
    outcomes: {
      delivered: 0.25,
      viewed: 0.25,
      clicked: 0.07,
      spam: 0.01,
      unsubscribed: 0.02,
      undelivered: 0.4,
    },
    delaysSec: {
      delivered: { min: 1, max: 30 },
      viewed: { min: 10, max: 1800 },
      clicked: { min: 5, max: 600 },
      spam: { min: 5, max: 600 },
      unsubscribed: { min: 5, max: 600 },
      undelivered: { min: 5, max: 120 },
    },
    reply: reply(0.05),
    submitError: 0.01,
  },
  voice: {
    outcomes: { answered: 0.33, ivr: 0.15, unsubscribed: 0.02, no_answer: 0.5 },
    delaysSec: {
      answered: { min: 5, max: 40 },
      ivr: { min: 5, max: 60 },
      unsubscribed: { min: 5, max: 60 },
      no_answer: { min: 30, max: 60 },
    },
    ivrDigits: { '1': 0.5, '2': 0.3, '3': 0.1, '0': 0.1 },
    submitError: 0.01,
  },
  vk: {
    outcomes: { delivered: 0.25, viewed: 0.45, undelivered: 0.3 },
    delaysSec: {
      delivered: { min: 1, max: 20 },
      viewed: { min: 30, max: 3600 },
      undelivered: { min: 5, max: 120 },
    },
    reply: reply(0.04),
    submitError: 0.01,
  },
  ok: {
    outcomes: { delivered: 0.2, viewed: 0.3, undelivered: 0.5 },
    delaysSec: {
      delivered: { min: 1, max: 20 },
      viewed: { min: 60, max: 7200 },
      undelivered: { min: 5, max: 120 },
    },
    reply: reply(0.03),
    submitError: 0.01,
  },
} as const;

interface MessagingDefaults<K extends string> {
  outcomes: Partial<Record<K, number>>;
  delaysSec: Record<K, DelayRange>;
  reply: ReplyDefaults;
  submitError: number;
}

/** Channels whose messages can be answered with text: SMS, Viber, VK, OK. */
const messagingChannel = <const K extends string>(statuses: readonly K[], defaults: MessagingDefaults<K>) =>
  object({
    outcomes: sharesOf(statuses, defaults.outcomes),
    delaysSec: delaysOf(statuses, defaults.delaysSec),
    reply: replySchema(defaults.reply),
    submitError: submitErrorSchema(defaults.submitError),
  }).prefault({});

const voiceChannel = object({
  outcomes: sharesOf(channelStatuses.voice, sandboxDefaults.voice.outcomes),
  delaysSec: delaysOf(channelStatuses.voice, sandboxDefaults.voice.delaysSec),
  ivrDigits: sharesOf(ivrKeys, sandboxDefaults.voice.ivrDigits),
  submitError: submitErrorSchema(sandboxDefaults.voice.submitError),
}).prefault({});

export const sandboxSettingsSchema = object({
  seed: z
    .int({ error: required('a whole number') })
    .min(0, { error: 'must be at least 0' })
    .max(0xffff_ffff, { error: 'must be at most 4294967295' })
    .default(1),
  sms: messagingChannel(channelStatuses.sms, sandboxDefaults.sms),
  viber: messagingChannel(channelStatuses.viber, sandboxDefaults.viber),
  voice: voiceChannel,
  vk: messagingChannel(channelStatuses.vk, sandboxDefaults.vk),
  ok: messagingChannel(channelStatuses.ok, sandboxDefaults.ok),
});

export type SandboxSettings = z.output<typeof sandboxSettingsSchema>;
/** What a caller may save: any field left out takes its default. */
export type SandboxSettingsInput = z.input<typeof sandboxSettingsSchema>;
export type SandboxChannelSettings<C extends SendChannel = SendChannel> = SandboxSettings[C];

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Shared by every account without saved settings, hence frozen. */
export const defaultSandboxSettings: SandboxSettings = deepFreeze(sandboxSettingsSchema.parse({}));

/** The settings form's JSON Schema (what a client may send, with defaults). */
export const sandboxSettingsJsonSchema = () => z.toJSONSchema(sandboxSettingsSchema, { io: 'input' });

/**
 * Validates settings as a client sent them; fields left out take their defaults. A bad value throws
 * AppError `validation_failed` naming the field by its dotted path, e.g. `viber.outcomes` or
 * `sms.delaysSec.delivered.min`.
 */
export function parseSandboxSettings(input: unknown): SandboxSettings {
  const parsed = sandboxSettingsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
  const path = unknownKey === undefined ? issue.path : [...issue.path, unknownKey];
  const field = path.map(String).join('.') || 'settings';
  const message =
    unknownKey === undefined ? `${field} ${issue.message}` : `${field} is not a known sandbox setting`;
  throw new AppError('validation_failed', message, { field });
}

/**
 * Stored settings were valid when saved; a field added since takes its default. Should a stored row
 * ever stop parsing, the sandbox runs on defaults rather than stopping every mailing of the account.
 */
function fromStored(raw: unknown): SandboxSettings {
  const parsed = sandboxSettingsSchema.safeParse(raw);
  return parsed.success ? parsed.data : defaultSandboxSettings;
}

/** An account's sandbox settings; an account that never saved any gets the defaults. */
export async function getSandboxSettings(db: Kysely<DB>, accountId: number): Promise<SandboxSettings> {
  const row = await db
    .selectFrom('sandbox_settings')
    .select('settings')
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row ? fromStored(row.settings) : defaultSandboxSettings;
}

/** Settings of several accounts in one statement (a submit batch may mix accounts). */
export async function getSandboxSettingsFor(
  db: Kysely<DB>,
  accountIds: readonly number[],
): Promise<Map<number, SandboxSettings>> {
  const ids = [...new Set(accountIds)];
  const result = new Map<number, SandboxSettings>(ids.map((id) => [id, defaultSandboxSettings]));
  if (ids.length === 0) return result;
  const rows = await db
    .selectFrom('sandbox_settings')
    .select(['account_id', 'settings'])
    .where('account_id', 'in', ids)
    .execute();
  for (const row of rows) result.set(Number(row.account_id), fromStored(row.settings));
  return result;
}

/**
 * Replaces an account's sandbox settings (fields left out take their defaults) and returns what is
 * now in effect. Invalid input changes nothing and throws AppError naming the field.
 */
export async function setSandboxSettings(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: unknown,
): Promise<SandboxSettings> {
  const settings = parseSandboxSettings(input);
  const now = clock.now();
  await db
    .insertInto('sandbox_settings')
    .values({ account_id: accountId, settings: JSON.stringify(settings), updated_at: now })
    .onConflict((oc) =>
      oc.column('account_id').doUpdateSet({ settings: JSON.stringify(settings), updated_at: now }),
    )
    .execute();
  return settings;
}

/** Back to the defaults. */
export async function resetSandboxSettings(db: Kysely<DB>, accountId: number): Promise<void> {
  await db.deleteFrom('sandbox_settings').where('account_id', '=', accountId).execute();
}

/** Where a sandbox adapter gets the settings of the accounts in a batch (one call per batch). */
export type SandboxSettingsProvider = (
  db: Kysely<DB>,
  accountIds: readonly number[],
) => Promise<ReadonlyMap<number, SandboxSettings>>;

/** The default: each account's saved settings (sandbox_settings), defaults when none. */
export const sandboxSettingsFromDatabase: SandboxSettingsProvider = getSandboxSettingsFor;

/** The same settings for every account: for tests, benchmarks and demos. */
export const fixedSandboxSettings =
  (settings: SandboxSettings): SandboxSettingsProvider =>
  async (_db, accountIds) =>
    new Map(accountIds.map((id) => [id, settings]));
