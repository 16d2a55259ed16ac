import { DateTime } from 'luxon';
import { z } from 'zod';
import type { sendBlockSchema } from './scheme/model.ts';

/**
 * What a user sends to create a mailing. A single-channel mailing is a one-block scheme (`single`); a
 * cascade names a saved scheme (`scheme_id`) or carries one inline (`scheme`); A/B testing lists two or
 * more `variants`, each with its own scheme and split percentage.
 */
const schemeRef = {
  scheme_id: z.number().int().positive().optional(),
  scheme: z.unknown().optional(),
};

export const singleSchema = z.strictObject({
  channel: z.enum(['sms', 'viber', 'voice', 'vk', 'ok']),
  content: z.unknown(),
  decisionTimeSec: z.number().int().optional(),
});

export const mailingInputSchema = z.strictObject({
  name: z.string().max(200).optional(),
  ...schemeRef,
  single: singleSchema.optional(),
  variants: z
    .array(
      z.strictObject({
        label: z.string().min(1).max(50).optional(),
        percent: z.number().int().min(0).max(100),
        ...schemeRef,
      }),
    )
    .min(2)
    .max(10)
    .optional(),
  recipients: z.strictObject({
    group_ids: z.array(z.number().int().positive()).min(1).max(100),
    filter: z
      .strictObject({
        timezones: z.array(z.string().min(1).max(64)).max(50).optional(),
        vars: z.record(z.string().min(1).max(100), z.string().max(2000)).optional(),
        has_email: z.boolean().optional(),
      })
      .optional(),
  }),
  /** ISO date-time. In `recipient` mode a local wall time ("2026-12-01T10:00") applied in each recipient's zone. */
  start_at: z.string().max(40).optional(),
  timezone_mode: z.enum(['sender', 'recipient']).default('sender'),
  sender_timezone: z.string().max(64).default('Europe/Moscow'),
  window: z
    .strictObject({
      from: z.string().regex(/^\d{2}:\d{2}$/, 'must be HH:MM'),
      to: z.string().regex(/^\d{2}:\d{2}$/, 'must be HH:MM'),
      weekdays: z.array(z.number().int().min(1).max(7)).max(7).default([1, 2, 3, 4, 5, 6, 7]),
    })
    .optional(),
  smooth_until: z.string().max(40).optional(),
  ivr_max_connections: z.number().int().min(1).max(1000).optional(),
  tags: z.array(z.string().min(1).max(50)).max(20).default([]),
  replies_to_chat: z.boolean().default(false),
});

export type MailingInput = z.infer<typeof mailingInputSchema>;

export const isZone = (zone: string) => DateTime.local().setZone(zone).isValid;

/** The one-block scheme of a single-channel mailing. */
export function singleScheme(single: z.infer<typeof singleSchema>): unknown {
  return {
    name: `single ${single.channel}`,
    blocks: [
      {
        id: 'send',
        kind: 'send',
        start: true,
        channel: single.channel,
        content: single.content,
        decisionTimeSec: single.decisionTimeSec ?? 3600,
      },
    ],
    links: [],
  };
}

export type SendBlockInput = z.infer<typeof sendBlockSchema>;
