import { z } from 'zod';
import type { ModerationStatus, SenderChannel, TemplateChannel } from '../../db/schema.ts';
import { communityId, sender, smsSender } from '../scheme/content.ts';
import { contentLimits, E164_PATTERN } from '../scheme/vocabulary.ts';

/**
 * Moderation of sender names and message templates (SPEC ML): an item starts as a draft, the account
 * submits it (on_moderation), a platform admin approves it or rejects it with a reason. A rejected
 * item may be fixed and submitted again.
 */
export const moderationStatuses = [
  'draft',
  'on_moderation',
  'approved',
  'rejected',
] as const satisfies readonly ModerationStatus[];

/** Voice calls have no sender name in the SPEC; WhatsApp is ML-1 (no cascade block yet). */
export const senderChannels = [
  'sms',
  'viber',
  'vk',
  'ok',
  'whatsapp',
] as const satisfies readonly SenderChannel[];

/** Channels whose messages must match an approved template (SPEC ML: VK/OK/WhatsApp). */
export const templateChannels = ['vk', 'ok', 'whatsapp'] as const satisfies readonly TemplateChannel[];

/** VK and OK aggregators moderate a community only with a signed letter (a scan) attached. */
export const letterChannels: readonly SenderChannel[] = ['vk', 'ok'];

/** The same name rules a send block's `sender` follows (scheme/content.ts), so a registered name fits. */
export const senderNameSchemas: Record<SenderChannel, z.ZodType<string>> = {
  sms: smsSender,
  viber: sender,
  vk: communityId,
  ok: communityId,
  whatsapp: z.string().regex(E164_PATTERN, { error: 'must be a phone number in E.164, e.g. +78001234567' }),
};

export const templateTextLimits: Record<TemplateChannel, number> = {
  vk: contentLimits.serviceText,
  ok: contentLimits.serviceText,
  /** WhatsApp template body: 1024 characters. */
  whatsapp: 1024,
};

export const moderationLimits = {
  comment: 1000,
  reason: 1000,
  /** A signed letter is a scan: PDF, JPEG or PNG up to 10 MB. */
  letterBytes: 10 * 1024 * 1024,
} as const;

/** Russian labels for the cabinet, English second. */
export const moderationStatusLabels: Record<ModerationStatus, { ru: string; en: string }> = {
  draft: { ru: 'Черновик', en: 'Draft' },
  on_moderation: { ru: 'На модерации', en: 'On moderation' },
  approved: { ru: 'Согласовано', en: 'Approved' },
  rejected: { ru: 'Отклонено', en: 'Rejected' },
};
