import type { RecipientEndReason, RecipientState } from '../../db/schema.ts';
import { statusLabelsRu } from '../scheme/labels-ru.ts';
import {
  channelFailure,
  channelFlags,
  channelMilestones,
  type FailureStatus,
  type MessageStatus,
  type Milestone,
  type TerminalFlag,
} from '../scheme/vocabulary.ts';

/**
 * The vocabulary reports speak, derived from the scheme vocabulary (src/mailings/scheme/vocabulary.ts)
 * so a new channel status reaches every report without touching SQL by hand.
 */

const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

/** Every milestone of every channel: a message that reached one of them was delivered. */
export const deliveredStatuses: readonly Milestone[] = unique(Object.values(channelMilestones).flat());
/** What a message that never got through is reported as (undelivered, no_answer). */
export const failureStatuses: readonly FailureStatus[] = unique(Object.values(channelFailure));
/** Terminal flags in priority order (spam before unsubscribed). */
export const flagStatuses: readonly TerminalFlag[] = unique(Object.values(channelFlags).flat());

/**
 * Milestones in one global order, highest first. Each channel's own order (channelMilestones) is a
 * subsequence of it — a test checks that — so "the first one present" is the channel's highest.
 */
export const milestonePriority = [
  'clicked',
  'viewed',
  'delivered',
  'ivr',
  'answered',
] as const satisfies readonly Milestone[];

/**
 * The one status a message row shows (the "Статус" column), in the order the engine's decision rule
 * ranks them:
 * - `error`: the send itself failed (messages.state = failed; error_reason says why);
 * - `queued`: written, not handed to the provider yet;
 * - a terminal flag (spam, unsubscribed), else the highest milestone reached, else the failure status
 *   (reported by the provider or given at decision time: no delivery by the decision time);
 * - `sent`: accepted by the provider, no status reported yet.
 */
export const messageReportStatuses = [
  'queued',
  'sent',
  'error',
  ...flagStatuses,
  ...milestonePriority,
  ...failureStatuses,
] as const satisfies readonly (MessageStatus | 'queued' | 'sent' | 'error')[];
export type MessageReportStatus = 'queued' | 'sent' | 'error' | MessageStatus;

export const messageReportStatusLabelsRu = {
  ...statusLabelsRu,
  queued: 'В очереди',
  sent: 'Отправлено',
  error: 'Ошибка отправки',
} as const satisfies Record<MessageReportStatus, string>;

/**
 * Where a recipient stands, for reports. Every recipient is in exactly one bucket, so the buckets add
 * up to the recipient count (see mailing-report.ts for the definitions).
 */
export const recipientBuckets = [
  'on_moderation',
  'pending',
  'running',
  'goal',
  'finished',
  'interrupted',
  'cancelled',
] as const;
export type RecipientBucket = (typeof recipientBuckets)[number];

export const recipientBucketLabelsRu = {
  on_moderation: 'На модерации',
  pending: 'Ожидает отправки',
  running: 'В процессе',
  goal: 'Цель достигнута',
  finished: 'Завершено без цели',
  interrupted: 'Прервано',
  cancelled: 'Отменено',
} as const satisfies Record<RecipientBucket, string>;

export const recipientStates = [
  'send',
  'sending',
  'waiting',
  'delay',
  'done',
] as const satisfies readonly RecipientState[];

export const recipientStateLabelsRu = {
  send: 'Ожидает отправки',
  sending: 'Отправляется',
  waiting: 'Ожидает решения',
  delay: 'Задержка',
  done: 'Завершён',
} as const satisfies Record<RecipientState, string>;

export const endReasons = ['goal', 'finished', 'cancelled'] as const satisfies readonly RecipientEndReason[];

export const endReasonLabelsRu = {
  goal: 'Цель достигнута',
  finished: 'Путь завершён',
  cancelled: 'Рассылка отменена',
} as const satisfies Record<RecipientEndReason, string>;

export const isOneOf = <T extends string>(list: readonly T[], value: unknown): value is T =>
  typeof value === 'string' && (list as readonly string[]).includes(value);
