import { z } from 'zod';
import { contentSchemas } from './content.ts';
import { isMatchableWord } from './response-words.ts';
import {
  contentLimits,
  decisionTimeBounds,
  delayBounds,
  errorReasons,
  ID_PATTERN,
  ivrKeys,
  messageStatuses,
  type SendChannel,
  schemeLimits,
} from './vocabulary.ts';

/**
 * The scheme JSON (SPEC CS): a flat list of blocks and a flat list of links, as a graph editor keeps
 * them (nodes with positions, edges with a source and a target). These schemas describe a *valid*
 * scheme's fields; `validateScheme` applies them field by field and adds the graph rules, so it can
 * name the block, the link and the field of each problem.
 *
 * @example
 * {
 *   "name": "Напоминание",
 *   "blocks": [
 *     { "id": "viber", "kind": "send", "start": true, "channel": "viber", "decisionTimeSec": 3600,
 *       "content": { "format": "text", "text": "Ваш заказ готов" }, "position": { "x": 0, "y": 0 } },
 *     { "id": "sms", "kind": "send", "channel": "sms", "decisionTimeSec": 3600,
 *       "content": { "text": "Ваш заказ готов" }, "position": { "x": 0, "y": 200 } },
 *     { "id": "done", "kind": "goal", "position": { "x": 300, "y": 0 } }
 *   ],
 *   "links": [
 *     { "id": "l1", "from": "viber", "to": "sms", "kind": "status", "status": "undelivered" },
 *     { "id": "l2", "from": "viber", "to": "done", "kind": "status", "status": "delivered" }
 *   ]
 * }
 */

export const idSchema = z.string({ error: 'must be a string' }).regex(ID_PATTERN, {
  error: 'must be 1-64 characters: Latin letters, digits, "_" or "-"',
});

/** Where the editor draws the block; meaningless to the engine. */
export const positionSchema = z.strictObject({
  x: z.number().refine(Number.isFinite, { error: 'must be a finite number' }),
  y: z.number().refine(Number.isFinite, { error: 'must be a finite number' }),
});

export const schemeNameSchema = z
  .string({ error: 'must be a string' })
  .max(contentLimits.schemeName, { error: `must be at most ${contentLimits.schemeName} characters` });

const secondsWithin = (bounds: { minSec: number; maxSec: number }) =>
  z
    .int({ error: 'must be a whole number of seconds' })
    .min(bounds.minSec, { error: `must be at least ${bounds.minSec} seconds` })
    .max(bounds.maxSec, { error: `must be at most ${bounds.maxSec} seconds` });

/** How long a send block waits for its message's status before taking a status link. */
export const decisionTimeSecSchema = secondsWithin(decisionTimeBounds);
export const delayDurationSecSchema = secondsWithin(delayBounds);

const sendBlockOf = <C extends SendChannel, S extends (typeof contentSchemas)[C]>(channel: C, content: S) =>
  z.strictObject({
    id: idSchema,
    kind: z.literal('send'),
    /** Exactly one block of a scheme is the start, and it is a send block. */
    start: z.boolean().optional(),
    channel: z.literal(channel),
    content,
    decisionTimeSec: decisionTimeSecSchema,
    position: positionSchema.optional(),
  });

export const sendBlockSchema = z.discriminatedUnion('channel', [
  sendBlockOf('sms', contentSchemas.sms),
  sendBlockOf('viber', contentSchemas.viber),
  sendBlockOf('voice', contentSchemas.voice),
  sendBlockOf('vk', contentSchemas.vk),
  sendBlockOf('ok', contentSchemas.ok),
]);

export const delayBlockSchema = z.strictObject({
  id: idSchema,
  kind: z.literal('delay'),
  durationSec: delayDurationSecSchema,
  position: positionSchema.optional(),
});

/** "Цель достигнута": the recipient's path ends here and counts as a reached goal. */
export const goalBlockSchema = z.strictObject({
  id: idSchema,
  kind: z.literal('goal'),
  position: positionSchema.optional(),
});

export const blockSchema = z.discriminatedUnion('kind', [sendBlockSchema, delayBlockSchema, goalBlockSchema]);

const linkEnds = { id: idSchema, from: idSchema, to: idSchema };

export const responseWordsSchema = z
  .array(
    z
      .string({ error: 'must be a string' })
      .max(contentLimits.responseWord, { error: `must be at most ${contentLimits.responseWord} characters` })
      .refine(isMatchableWord, { error: 'must contain a letter or a digit' }),
    { error: 'must be a list of words' },
  )
  .min(1, { error: 'must list at least one word' })
  .max(contentLimits.responseWords, { error: `at most ${contentLimits.responseWords} words` });

export const digitsSchema = z
  .array(z.enum(ivrKeys, { error: 'must be one key: 0-9, * or #' }), {
    error: 'must be a list of keys',
  })
  .min(1, { error: 'must list at least one key' })
  .max(ivrKeys.length);

/** Absent = any error; present = only these reasons. */
export const errorReasonsSchema = z
  .array(z.enum(errorReasons, { error: `must be one of ${errorReasons.join(', ')}` }), {
    error: 'must be a list of error reasons',
  })
  .min(1, { error: 'must name at least one reason (or be left out to match any error)' });

export const statusLinkSchema = z.strictObject({
  ...linkEnds,
  kind: z.literal('status'),
  status: z.enum(messageStatuses),
});
export const responseLinkSchema = z.strictObject({
  ...linkEnds,
  kind: z.literal('response'),
  words: responseWordsSchema,
});
export const ivrLinkSchema = z.strictObject({ ...linkEnds, kind: z.literal('ivr'), digits: digitsSchema });
export const errorLinkSchema = z.strictObject({
  ...linkEnds,
  kind: z.literal('error'),
  errors: errorReasonsSchema.optional(),
});
export const nextLinkSchema = z.strictObject({ ...linkEnds, kind: z.literal('next') });

export const linkSchema = z.discriminatedUnion('kind', [
  statusLinkSchema,
  responseLinkSchema,
  ivrLinkSchema,
  errorLinkSchema,
  nextLinkSchema,
]);

/** Field rules only; the graph rules live in validateScheme. */
export const schemeSchema = z.strictObject({
  name: schemeNameSchema.optional(),
  blocks: z.array(blockSchema).min(1).max(schemeLimits.blocks),
  links: z.array(linkSchema).max(schemeLimits.links),
});

export type Position = z.infer<typeof positionSchema>;
export type SendBlock = z.infer<typeof sendBlockSchema>;
export type SendBlockOf<C extends SendChannel> = Extract<SendBlock, { channel: C }>;
export type DelayBlock = z.infer<typeof delayBlockSchema>;
export type GoalBlock = z.infer<typeof goalBlockSchema>;
export type Block = z.infer<typeof blockSchema>;

export type StatusLink = z.infer<typeof statusLinkSchema>;
export type ResponseLink = z.infer<typeof responseLinkSchema>;
export type IvrLink = z.infer<typeof ivrLinkSchema>;
export type ErrorLink = z.infer<typeof errorLinkSchema>;
export type NextLink = z.infer<typeof nextLinkSchema>;
export type Link = z.infer<typeof linkSchema>;
export type SendLink = Exclude<Link, NextLink>;

/** A scheme that passed validateScheme. */
export type Scheme = z.infer<typeof schemeSchema>;

/** Links leaving a block, in the scheme's order (the order decides ties nowhere: duplicates are refused). */
export const outgoingLinks = (scheme: Pick<Scheme, 'links'>, blockId: string): Link[] =>
  scheme.links.filter((link) => link.from === blockId);

export const startBlock = (scheme: Pick<Scheme, 'blocks'>): SendBlock | undefined =>
  scheme.blocks.find((block): block is SendBlock => block.kind === 'send' && block.start === true);
