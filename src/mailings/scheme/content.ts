import { z } from 'zod';
import {
  contentLimits,
  E164_PATTERN,
  ivrKeys,
  type SendChannel,
  viberFormats,
  voiceKinds,
  voiceRetryBounds,
} from './vocabulary.ts';

/** Message content of a send block, one shape per channel (ML-2..ML-6). */

/** zod's message when a field is missing or of the wrong type. */
const required = (expected: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : `must be ${expected}`;

const text = (max: number) =>
  z
    .string({ error: required('a string') })
    .max(max, { error: `must be at most ${max} characters` })
    .refine((value) => value.trim().length > 0, { error: 'must not be blank' });

const url = z
  .url({ protocol: /^https?$/, error: required('an http(s) URL') })
  .max(contentLimits.url, { error: `must be at most ${contentLimits.url} characters` });

/**
 * `sender` of a send block names one of the account's registered senders (src/mailings/moderation) by
 * channel and name. Left out, the install's default sender sends (the sandbox in a sandbox install) and
 * no moderation is involved. Named, the sender must exist and not be rejected when the mailing is
 * created; a mailing started before it is approved waits in status on_moderation.
 */

/** A Viber sender name: an own name registered by the account, up to 64 characters. */
export const sender = text(contentLimits.sender);

/** A VK or OK community id: digits ("123456", "-123456") or a screen name ("club123"). */
export const communityId = z.string({ error: required('a string') }).regex(/^[A-Za-z0-9_.-]{1,64}$/, {
  error: 'must be a community id: up to 64 Latin letters, digits, "_", "." or "-"',
});

/**
 * SMS sender id: an alphanumeric name of up to 11 Latin characters with at least one letter (the
 * GSM limit), or a phone number of up to 15 digits.
 */
export const smsSender = z
  .string({ error: required('a string') })
  .regex(/^(?=.*[A-Za-z])[A-Za-z0-9 ._&-]{1,11}$|^\+?\d{1,15}$/, {
    error: 'must be up to 11 Latin letters/digits or a phone number of up to 15 digits',
  });

export const smsContentSchema = z.strictObject({
  text: text(contentLimits.smsText),
  sender: smsSender.optional(),
});

const viberText = text(contentLimits.viberText);
const buttonText = text(contentLimits.viberButtonText);

/** Viber formats from the seed: Текст, Изображение, Текст + Кнопка, Текст + Изображение + Кнопка. */
export const viberContentSchema = z.discriminatedUnion(
  'format',
  [
    z.strictObject({ format: z.literal('text'), text: viberText, sender: sender.optional() }),
    z.strictObject({ format: z.literal('image'), imageUrl: url, sender: sender.optional() }),
    z.strictObject({
      format: z.literal('text_button'),
      text: viberText,
      buttonText,
      buttonUrl: url,
      sender: sender.optional(),
    }),
    z.strictObject({
      format: z.literal('text_image_button'),
      text: viberText,
      imageUrl: url,
      buttonText,
      buttonUrl: url,
      sender: sender.optional(),
    }),
  ],
  { error: `must be one of ${viberFormats.join(', ')}` },
);

/** What pressing a key does during the call (seed 3.1, Шаг 3). */
export const ivrActionSchema = z.discriminatedUnion(
  'action',
  [
    z.strictObject({
      action: z.literal('connect'),
      phone: z
        .string({ error: required('a string') })
        .regex(E164_PATTERN, { error: 'must be a phone number in E.164, e.g. +78001234567' }),
      /** Keeps managers from being flooded (ML-2). */
      maxSimultaneous: z.int().min(1).max(1000).optional(),
      maxPerMinute: z.int().min(1).max(10_000).optional(),
    }),
    z.strictObject({ action: z.literal('record') }),
    z.strictObject({ action: z.literal('unsubscribe') }),
    z.strictObject({ action: z.literal('repeat') }),
  ],
  { error: 'must be one of connect, record, unsubscribe, repeat' },
);

export const ivrMenuSchema = z
  .partialRecord(z.enum(ivrKeys), ivrActionSchema)
  .refine((menu) => Object.keys(menu).length > 0, { error: 'must have at least one key' });

export const voiceRetrySchema = z.strictObject({
  attempts: z.int().min(voiceRetryBounds.attempts.min).max(voiceRetryBounds.attempts.max),
  intervalSec: z.int().min(voiceRetryBounds.intervalSec.min).max(voiceRetryBounds.intervalSec.max),
});

const voiceCommon = { ivr: ivrMenuSchema.optional(), retry: voiceRetrySchema.optional() };
const audioFileId = text(contentLimits.fileId);

export const voiceContentSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('tts'), text: text(contentLimits.voiceText), ...voiceCommon }),
    /** `text` of a recording is its transcript, kept for reports. */
    z.strictObject({
      kind: z.literal('audio'),
      audioFileId,
      text: text(contentLimits.voiceText).optional(),
      ...voiceCommon,
    }),
    /** `text` of a studio voice-over is the script it was recorded from. */
    z.strictObject({
      kind: z.literal('studio'),
      audioFileId,
      text: text(contentLimits.voiceText).optional(),
      ...voiceCommon,
    }),
  ],
  { error: `must be one of ${voiceKinds.join(', ')}` },
);

/**
 * VK and OK service notifications: the text must match an approved template of the account (see
 * src/mailings/moderation: checked when the mailing is created and started, with matchesTemplate);
 * `templateId` pins which one (the id of a message template, as a string). `sender` is the community id.
 */
export const serviceContentSchema = z.strictObject({
  text: text(contentLimits.serviceText),
  templateId: text(contentLimits.templateId).optional(),
  sender: communityId.optional(),
});

export const contentSchemas = {
  sms: smsContentSchema,
  viber: viberContentSchema,
  voice: voiceContentSchema,
  vk: serviceContentSchema,
  ok: serviceContentSchema,
} as const satisfies Record<SendChannel, z.ZodType>;

export type SmsContent = z.infer<typeof smsContentSchema>;
export type ViberContent = z.infer<typeof viberContentSchema>;
export type IvrAction = z.infer<typeof ivrActionSchema>;
export type IvrMenu = z.infer<typeof ivrMenuSchema>;
export type VoiceRetry = z.infer<typeof voiceRetrySchema>;
export type VoiceContent = z.infer<typeof voiceContentSchema>;
export type ServiceContent = z.infer<typeof serviceContentSchema>;
export type ContentOf<C extends SendChannel> = z.infer<(typeof contentSchemas)[C]>;
