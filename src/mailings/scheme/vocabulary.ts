/**
 * The closed vocabulary of cascade schemes (SPEC CS), defined once. Values are persisted (scheme JSON,
 * status columns), so they are append-only: never rename one.
 */

export const sendChannels = ['sms', 'viber', 'voice', 'vk', 'ok'] as const;
export type SendChannel = (typeof sendChannels)[number];

export const blockKinds = ['send', 'delay', 'goal'] as const;
export type BlockKind = (typeof blockKinds)[number];

/** `next` is the plain link out of a delay block; the others leave send blocks. */
export const linkKinds = ['status', 'response', 'ivr', 'error', 'next'] as const;
export type LinkKind = (typeof linkKinds)[number];
export type SendLinkKind = Exclude<LinkKind, 'next'>;

export const messageStatuses = [
  'spam',
  'unsubscribed',
  'clicked',
  'viewed',
  'delivered',
  'undelivered',
  'ivr',
  'answered',
  'no_answer',
] as const;
export type MessageStatus = (typeof messageStatuses)[number];

/** Statuses a status link may name, per channel, in the seed's order ("Шаг 6 — Статус"). */
export const channelStatuses = {
  viber: ['spam', 'unsubscribed', 'clicked', 'viewed', 'delivered', 'undelivered'],
  voice: ['unsubscribed', 'ivr', 'answered', 'no_answer'],
  sms: ['clicked', 'delivered', 'undelivered'],
  vk: ['viewed', 'delivered', 'undelivered'],
  ok: ['viewed', 'delivered', 'undelivered'],
} as const satisfies Record<SendChannel, readonly MessageStatus[]>;
export type ChannelStatus<C extends SendChannel = SendChannel> = (typeof channelStatuses)[C][number];

/**
 * How the decision rule treats a status:
 * - `flag`: terminal flag, wins over everything at decision time (spam, unsubscribed);
 * - `milestone`: progress of a delivered message, ordered per channel;
 * - `failure`: the message never got through (undelivered, no_answer); final.
 */
export type StatusClass = 'flag' | 'milestone' | 'failure';
export const statusClass = {
  spam: 'flag',
  unsubscribed: 'flag',
  clicked: 'milestone',
  viewed: 'milestone',
  delivered: 'milestone',
  ivr: 'milestone',
  answered: 'milestone',
  undelivered: 'failure',
  no_answer: 'failure',
} as const satisfies Record<MessageStatus, StatusClass>;

export type TerminalFlag = 'spam' | 'unsubscribed';
export type Milestone = 'clicked' | 'viewed' | 'delivered' | 'ivr' | 'answered';
export type FailureStatus = 'undelivered' | 'no_answer';

/** Terminal flags per channel, in priority order (spam before unsubscribed). */
export const channelFlags = {
  viber: ['spam', 'unsubscribed'],
  voice: ['unsubscribed'],
  sms: [],
  vk: [],
  ok: [],
} as const satisfies Record<SendChannel, readonly TerminalFlag[]>;

/**
 * Milestones per channel, highest first. Reaching one implies every lower one (a click implies the
 * message was delivered). For voice, pressing any IVR key (`ivr`) ranks above a plain answered call.
 */
export const channelMilestones = {
  viber: ['clicked', 'viewed', 'delivered'],
  voice: ['ivr', 'answered'],
  sms: ['clicked', 'delivered'],
  vk: ['viewed', 'delivered'],
  ok: ['viewed', 'delivered'],
} as const satisfies Record<SendChannel, readonly Milestone[]>;

/** What a message that got no delivery by its decision time counts as. */
export const channelFailure = {
  viber: 'undelivered',
  voice: 'no_answer',
  sms: 'undelivered',
  vk: 'undelivered',
  ok: 'undelivered',
} as const satisfies Record<SendChannel, FailureStatus>;

/**
 * Link kinds allowed out of a send block, per channel. A call gets no text replies (it has IVR instead);
 * only a call has IVR. Replies to SMS, Viber and VK/OK messages reach us (CH-5).
 */
export const channelLinkKinds = {
  viber: ['status', 'response', 'error'],
  voice: ['status', 'ivr', 'error'],
  sms: ['status', 'response', 'error'],
  vk: ['status', 'response', 'error'],
  ok: ['status', 'response', 'error'],
} as const satisfies Record<SendChannel, readonly SendLinkKind[]>;

/** Why a send failed (the `error` link); adapters map vendor codes onto these. */
export const errorReasons = [
  'insufficient_funds',
  'stop_listed',
  'invalid_parameters',
  'no_approved_sender',
  'no_approved_template',
  'invalid_number',
] as const;
export type ErrorReason = (typeof errorReasons)[number];

/** Keys of a telephone keypad: IVR menu entries and `ivr` link digits. */
export const ivrKeys = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] as const;
export type IvrKey = (typeof ivrKeys)[number];

export const ivrActions = ['connect', 'record', 'unsubscribe', 'repeat'] as const;
export type IvrActionKind = (typeof ivrActions)[number];

export const viberFormats = ['text', 'image', 'text_button', 'text_image_button'] as const;
export type ViberFormat = (typeof viberFormats)[number];

/** tts: robot reads the text; audio: an uploaded recording; studio: an uploaded studio voice-over. */
export const voiceKinds = ['tts', 'audio', 'studio'] as const;
export type VoiceKind = (typeof voiceKinds)[number];

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Decision time of a send block: 1 minute .. 72 hours. The seed gives no numbers. Under a minute no
 * provider reports a status; past three days a cascade stops being a cascade (Viber's own TTL
 * default is a day, VK/OK validity at most a day, SMS delivery reports arrive within hours).
 */
export const decisionTimeBounds = { minSec: MINUTE, maxSec: 72 * HOUR } as const;

/** Delay block duration: 1 minute .. 30 days ("remind in a week" must fit). */
export const delayBounds = { minSec: MINUTE, maxSec: 30 * DAY } as const;

/**
 * Redialling an unanswered call: 1..9 extra attempts (SMSC allows 1..9 in total), 1 minute .. 6 hours
 * apart. All retries must fit inside the block's decision time (checked by validation).
 */
export const voiceRetryBounds = {
  attempts: { min: 1, max: 9 },
  intervalSec: { min: MINUTE, max: 6 * HOUR },
} as const;

/** Content limits, in characters (UTF-16 code units, as the editor counts them). */
export const contentLimits = {
  /** Long SMS are split into parts and billed per part; 1000 keeps a message under ~15 parts. */
  smsText: 1000,
  /** Viber business messages: text up to 1000 characters (Devino, Rapporto, smsgate). */
  viberText: 1000,
  /** Button caption: Devino allows 30 (others 19-20; an adapter may refuse longer). */
  viberButtonText: 30,
  /** About a minute and a half of synthesized speech. */
  voiceText: 1000,
  /** VK/OK service notifications: 2048. */
  serviceText: 2048,
  url: 2048,
  sender: 64,
  fileId: 200,
  templateId: 200,
  schemeName: 200,
  /** Response link: how many words/phrases, and how long each. */
  responseWords: 50,
  responseWord: 100,
} as const;

/** Size limits of one scheme, so a bad client cannot make validation or the editor slow. */
export const schemeLimits = { blocks: 100, links: 400 } as const;

/** Ids of blocks and links: what editors generate (nanoid, uuid, "b1"). */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** E.164, as everywhere in the product. */
export const E164_PATTERN = /^\+[1-9]\d{6,14}$/;

export const isSendChannel = (value: unknown): value is SendChannel =>
  typeof value === 'string' && (sendChannels as readonly string[]).includes(value);

export const isChannelStatus = <C extends SendChannel>(
  channel: C,
  status: unknown,
): status is ChannelStatus<C> =>
  typeof status === 'string' && (channelStatuses[channel] as readonly string[]).includes(status);

export const isErrorReason = (value: unknown): value is ErrorReason =>
  typeof value === 'string' && (errorReasons as readonly string[]).includes(value);

export const isIvrKey = (value: unknown): value is IvrKey =>
  typeof value === 'string' && (ivrKeys as readonly string[]).includes(value);
