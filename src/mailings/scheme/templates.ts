import type { Block, Link, Scheme } from './model.ts';

/**
 * The standard templates the cabinet offers under "Использовать стандартный шаблон".
 *
 * What the seed (3.5 "Каскадная рассылка", Шаг 2) says: the user may start from "already created
 * chains, the most popular and most often used — «Viber/Голос/СМС» or «Viber/СМС»". It gives only the
 * names. The rest of the section fixes the idea they follow: a chain uses channels one after another
 * "depending on the delivery status of the message or the client's interaction with it", each channel
 * has a "Время принятия решения" (how long to wait for a status: delivered, undelivered, ...), and a
 * "Цель достигнута" block is put "at the end of the chain" so reports count reached goals.
 *
 * So each template tries the cheapest channel first and falls through on non-delivery:
 *   Viber/Голос/СМС: Viber ─undelivered→ Voice ─no_answer→ SMS; Viber delivered, Voice answered and
 *                    SMS delivered each end in their own goal block (reports show which channel won).
 *   Viber/СМС:       Viber ─undelivered→ SMS; Viber delivered and SMS delivered end in goal blocks.
 * A delivered link also catches viewed and clicked (the decision rule falls back to lower milestones).
 * Decision times: Viber 1 h (smsgate's default Viber validity is 60 min), Voice 1 h (two redials
 * 15 min apart fit inside), SMS 6 h (late delivery reports of phones that were off). Texts are
 * placeholders for the user to replace.
 */

export const standardTemplateKeys = ['viber_voice_sms', 'viber_sms'] as const;
export type StandardTemplateKey = (typeof standardTemplateKeys)[number];

export const standardTemplateNames = {
  viber_voice_sms: 'Viber/Голос/СМС',
  viber_sms: 'Viber/СМС',
} as const satisfies Record<StandardTemplateKey, string>;

const PLACEHOLDER_TEXT = 'Здравствуйте! Замените этот текст своим сообщением.';
const HOUR = 3600;
const COLUMN = 320;
const ROW = 200;

const viber = (row: number): Block => ({
  id: 'viber',
  kind: 'send',
  start: true,
  channel: 'viber',
  content: { format: 'text', text: PLACEHOLDER_TEXT },
  decisionTimeSec: HOUR,
  position: { x: 0, y: row * ROW },
});

const voice = (row: number): Block => ({
  id: 'voice',
  kind: 'send',
  channel: 'voice',
  content: { kind: 'tts', text: PLACEHOLDER_TEXT, retry: { attempts: 2, intervalSec: 15 * 60 } },
  decisionTimeSec: HOUR,
  position: { x: 0, y: row * ROW },
});

const sms = (row: number): Block => ({
  id: 'sms',
  kind: 'send',
  channel: 'sms',
  content: { text: PLACEHOLDER_TEXT },
  decisionTimeSec: 6 * HOUR,
  position: { x: 0, y: row * ROW },
});

const goal = (id: string, row: number): Block => ({
  id,
  kind: 'goal',
  position: { x: COLUMN, y: row * ROW },
});

const status = (
  from: string,
  to: string,
  value: 'delivered' | 'undelivered' | 'answered' | 'no_answer',
): Link => ({
  id: `${from}-${value}`,
  from,
  to,
  kind: 'status',
  status: value,
});

const builders: Record<StandardTemplateKey, () => Scheme> = {
  viber_voice_sms: () => ({
    name: standardTemplateNames.viber_voice_sms,
    blocks: [viber(0), goal('viber-goal', 0), voice(1), goal('voice-goal', 1), sms(2), goal('sms-goal', 2)],
    links: [
      status('viber', 'viber-goal', 'delivered'),
      status('viber', 'voice', 'undelivered'),
      status('voice', 'voice-goal', 'answered'),
      status('voice', 'sms', 'no_answer'),
      status('sms', 'sms-goal', 'delivered'),
    ],
  }),
  viber_sms: () => ({
    name: standardTemplateNames.viber_sms,
    blocks: [viber(0), goal('viber-goal', 0), sms(1), goal('sms-goal', 1)],
    links: [
      status('viber', 'viber-goal', 'delivered'),
      status('viber', 'sms', 'undelivered'),
      status('sms', 'sms-goal', 'delivered'),
    ],
  }),
};

/** A fresh copy of a standard template, ready for the editor to change and save under its own name. */
export const standardTemplate = (key: StandardTemplateKey): Scheme => builders[key]();

/** For the "choose a template" dialog. */
export const listStandardTemplates = (): { key: StandardTemplateKey; name: string }[] =>
  standardTemplateKeys.map((key) => ({ key, name: standardTemplateNames[key] }));
