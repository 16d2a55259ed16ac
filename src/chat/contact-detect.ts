import { type CountryCode, findPhoneNumbersInText, type NumberType } from 'libphonenumber-js/max';
import { normalizeEmail } from '../contacts/phone.ts';

/**
 * Finds the phone numbers and emails a visitor typed into a chat message (CH-4), normalised: phones to
 * E.164, emails trimmed and lowercased. Pure: no database, no clock.
 *
 * libphonenumber finds the candidates (region RU by default, so "8 999 123-45-67" is +79991234567);
 * the guards below drop what people write that only looks like a phone: order, invoice, tax and
 * tracking numbers named as such, amounts of money, dates, numbers glued to longer digit runs or
 * inside links, toll-free and premium lines (a business's, not the visitor's), and bare ten-digit
 * landline-shaped numbers nobody called a phone.
 */

export interface DetectedPhone {
  /** E.164 */
  value: string;
  /** The text as written. */
  raw: string;
  start: number;
  end: number;
}

export interface DetectedEmail {
  value: string;
  raw: string;
  start: number;
  end: number;
}

export interface DetectedContacts {
  phones: DetectedPhone[];
  emails: DetectedEmail[];
}

/** Longer texts are cut: a contact is typed in a short message, and the scan must stay cheap. */
export const DETECT_MAX_TEXT = 5000;

const URL_PATTERN = /(?:https?:\/\/|www\.)[^\s<>"']+/giu;

// A local part, then "@" or an obfuscated at ("[at]", "(at)", " собака "), then a dotted domain.
const EMAIL_PATTERN =
  /(?<![\p{L}\p{N}._%+-])([\p{L}\p{N}._%+-]+)(@|\s*[[({]\s*(?:at|собака)\s*[\])}]\s*|\s+собака\s+)([\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+)/giu;

/** "Top-level domains" that are really file extensions: image@2x.png is not an address. */
const FILE_EXTENSIONS = new Set([
  'png',
  'jpg',
  'jpeg',
  'gif',
  'svg',
  'webp',
  'bmp',
  'ico',
  'pdf',
  'doc',
  'docx',
  'xls',
  'xlsx',
  'ppt',
  'pptx',
  'txt',
  'csv',
  'zip',
  'rar',
  'js',
  'css',
  'html',
  'htm',
  'php',
  'mp3',
  'mp4',
  'mov',
  'avi',
]);

/** Lines whose owner is a business, not the visitor writing. */
const REJECTED_TYPES = new Set<NumberType>([
  'TOLL_FREE',
  'PREMIUM_RATE',
  'SHARED_COST',
  'UAN',
  'VOICEMAIL',
  'PAGER',
]);

// Only separators (and at most one more word) may stand between these words and the number:
// "заказ № 8999…", "order #7999…", "код подтверждения 9161…".
const NOT_A_PHONE_BEFORE =
  /(?<![\p{L}])(?:заказ|счет|счёт|чек|квитанц|инн|огрн|кпп|бик|снилс|полис|паспорт|договор|накладн|трек|артикул|код|пин|карт|order|invoice|ticket|tracking|account|тикет|заявк|обращени|транзакц|платеж|платёж|id)[\p{L}]*\.?(?:\s+[\p{L}]{3,})?\s*(?:№|#|no\.?|n)?\s*[:=\-–—]?\s*$|[№#]\s*$/iu;

// Money right before or after: "сумма 8 999 123 45 67" is not a phone, "89991234567 руб" neither.
const MONEY_BEFORE =
  /(?<![\p{L}])(?:сумм|цен|стоим|оплат|итого|баланс|перевод|перевел|перевёл|долг|₽|\$|€|руб)[\p{L}]*\.?\s*[:=]?\s*$/iu;
const UNIT_AFTER = /^\s*(?:руб|р\.|р(?![\p{L}])|₽|rub|usd|eur|\$|€|тыс|млн|млрд|коп|шт|кг|км|%)/iu;

// What makes a bare ten-digit number (no +7/8, no formatting) a phone: someone called it one.
const PHONE_WORDS =
  /(?:тел|номер|звон|позвон|набер|моб|сотов|whatsapp|ватсап|вотсап|viber|вайбер|telegram|телеграм|phone|call|связ)/iu;

const DATE_SHAPE = /^\d{1,2}[./]\d{1,2}[./]\d{2,4}/;

function spansOf(pattern: RegExp, text: string): [number, number][] {
  return [...text.matchAll(pattern)].map((m) => [m.index, m.index + m[0].length]);
}

const overlaps = (spans: [number, number][], start: number, end: number) =>
  spans.some(([s, e]) => start < e && s < end);

/** Blanks spans out (same length, so offsets stay valid). */
function mask(text: string, spans: [number, number][]): string {
  let out = text;
  for (const [s, e] of spans) out = out.slice(0, s) + ' '.repeat(e - s) + out.slice(e);
  return out;
}

function detectEmails(text: string, urls: [number, number][]): DetectedEmail[] {
  const found: DetectedEmail[] = [];
  for (const m of text.matchAll(EMAIL_PATTERN)) {
    const local = m[1]!;
    const separator = m[2]!;
    // A trailing dot or dash ends the sentence, not the domain: "пишите на ivan@example.ru."
    const domain = m[3]!.replace(/[.-]+$/, '');
    const start = m.index;
    const end = start + local.length + separator.length + domain.length;
    const tld = domain.slice(domain.lastIndexOf('.') + 1).toLowerCase();
    if (FILE_EXTENSIONS.has(tld)) continue;
    // user:password@host inside a link is not an address; mailto: links are.
    if (overlaps(urls, start, end)) continue;
    const result = normalizeEmail(`${local}@${domain}`);
    if (!result.ok) continue;
    if (found.some((f) => f.value === result.email)) continue;
    found.push({ value: result.email, raw: text.slice(start, end), start, end });
  }
  return found;
}

function isPhoneCandidate(text: string, start: number, end: number, type: NumberType | undefined): boolean {
  const raw = text.slice(start, end);
  const before = text.slice(Math.max(0, start - 40), start);
  const after = text.slice(end, end + 12);
  if (type && REJECTED_TYPES.has(type)) return false;
  // Glued to more digits (a card, an account number, a decimal) — part of something longer.
  if (/\d[.,]?$/.test(before) || /^[.,]?\d/.test(after)) return false;
  if (DATE_SHAPE.test(raw)) return false;
  if (NOT_A_PHONE_BEFORE.test(before)) return false;
  if (MONEY_BEFORE.test(before) || UNIT_AFTER.test(after)) return false;
  // A bare ten-digit national number that is not a mobile: only when the visitor calls it a phone.
  if (/^\d{10}$/.test(raw) && type !== 'MOBILE') {
    const clause = before.split(/[\n!?;]|\.\s/).at(-1) ?? '';
    if (!PHONE_WORDS.test(clause)) return false;
  }
  return true;
}

function detectPhones(text: string, region: CountryCode): DetectedPhone[] {
  const found: DetectedPhone[] = [];
  for (const match of findPhoneNumbersInText(text, region)) {
    const number = match.number;
    // An extension is fine ("8 495 123-45-67 доб. 12"): the line itself is the contact.
    if (!number.isValid()) continue;
    if (!isPhoneCandidate(text, match.startsAt, match.endsAt, number.getType())) continue;
    if (found.some((f) => f.value === number.number)) continue;
    found.push({
      value: number.number,
      raw: text.slice(match.startsAt, match.endsAt),
      start: match.startsAt,
      end: match.endsAt,
    });
  }
  return found;
}

export function detectContacts(input: string, region: CountryCode = 'RU'): DetectedContacts {
  const text = input.slice(0, DETECT_MAX_TEXT);
  const urls = spansOf(URL_PATTERN, text);
  const emails = detectEmails(text, urls);
  // Digits inside links and addresses are never phones ("shop.ru/item/89991234567", "ivan89991234567@…").
  const masked = mask(text, [...urls, ...emails.map((e): [number, number] => [e.start, e.end])]);
  return { phones: detectPhones(masked, region), emails };
}
