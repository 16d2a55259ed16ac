import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { assertValidScheme, validateScheme } from './validate.ts';
import { type SchemeErrorCode, schemeErrorCodes } from './validation-codes.ts';

type RawItem = Record<string, unknown>;
interface RawScheme {
  [key: string]: unknown;
  blocks: RawItem[];
  links: RawItem[];
}

const TEXT = 'Ваш заказ готов';

/** A valid scheme using every block kind and every link kind. */
function fixture(): RawScheme {
  return {
    name: 'Все виды блоков',
    blocks: [
      {
        id: 'viber',
        kind: 'send',
        start: true,
        channel: 'viber',
        decisionTimeSec: 3600,
        content: {
          format: 'text_button',
          text: TEXT,
          buttonText: 'Открыть',
          buttonUrl: 'https://shop.example/o/1',
        },
        position: { x: 0, y: 0 },
      },
      {
        id: 'voice',
        kind: 'send',
        channel: 'voice',
        decisionTimeSec: 3600,
        content: {
          kind: 'tts',
          text: TEXT,
          ivr: {
            '1': { action: 'connect', phone: '+78001234567', maxSimultaneous: 5 },
            '9': { action: 'unsubscribe' },
          },
          retry: { attempts: 2, intervalSec: 600 },
        },
      },
      { id: 'wait', kind: 'delay', durationSec: 86400 },
      {
        id: 'sms',
        kind: 'send',
        channel: 'sms',
        decisionTimeSec: 600,
        content: { text: TEXT, sender: 'Shop' },
      },
      {
        id: 'vk',
        kind: 'send',
        channel: 'vk',
        decisionTimeSec: 600,
        content: { text: TEXT, templateId: 't-1' },
      },
      { id: 'done', kind: 'goal' },
    ],
    links: [
      { id: 'l1', from: 'viber', to: 'voice', kind: 'status', status: 'undelivered' },
      { id: 'l2', from: 'viber', to: 'done', kind: 'status', status: 'delivered' },
      { id: 'l3', from: 'viber', to: 'sms', kind: 'response', words: ['да', 'хочу'] },
      { id: 'l4', from: 'viber', to: 'sms', kind: 'error', errors: ['no_approved_sender'] },
      { id: 'l5', from: 'voice', to: 'wait', kind: 'ivr', digits: ['1'] },
      { id: 'l6', from: 'voice', to: 'sms', kind: 'status', status: 'no_answer' },
      { id: 'l7', from: 'wait', to: 'vk', kind: 'next' },
      { id: 'l8', from: 'sms', to: 'done', kind: 'status', status: 'delivered' },
      { id: 'l9', from: 'vk', to: 'done', kind: 'status', status: 'viewed' },
      { id: 'l10', from: 'voice', to: 'done', kind: 'status', status: 'ivr' },
    ],
  };
}

const block = (scheme: RawScheme, id: string) => scheme.blocks.find((b) => b.id === id)!;
const link = (scheme: RawScheme, id: string) => scheme.links.find((l) => l.id === id)!;
const content = (scheme: RawScheme, id: string) => block(scheme, id).content as RawItem;

interface Case {
  name: string;
  code: SchemeErrorCode;
  /** Edits the fixture in place... */
  change?: (scheme: RawScheme) => unknown;
  /** ...or builds the input from it. */
  input?: (scheme: RawScheme) => unknown;
  block?: string | null;
  link?: string | null;
  field?: string | null;
}

const cases: Case[] = [
  // invalid_shape
  { name: 'not an object', code: 'invalid_shape', input: () => 'scheme', block: null, field: '' },
  { name: 'blocks not a list', code: 'invalid_shape', input: (s) => ({ ...s, blocks: {} }), field: 'blocks' },
  { name: 'links missing', code: 'invalid_shape', input: (s) => ({ blocks: s.blocks }), field: 'links' },
  {
    name: 'too many blocks',
    code: 'invalid_shape',
    input: (s) => ({ ...s, blocks: Array.from({ length: 101 }, (_, i) => ({ id: `g${i}`, kind: 'goal' })) }),
    field: 'blocks',
  },
  {
    name: 'block not an object',
    code: 'invalid_shape',
    change: (s) => s.blocks.push(null as never),
    field: 'blocks[6]',
  },
  {
    name: 'bad block id',
    code: 'invalid_shape',
    change: (s) => s.blocks.push({ id: 'a b', kind: 'goal' }),
    block: null,
    field: 'blocks[6].id',
  },
  {
    name: 'unknown block kind',
    code: 'invalid_shape',
    change: (s) => s.blocks.push({ id: 'x', kind: 'wait' }),
    block: 'x',
    field: 'kind',
  },
  {
    name: 'bad position',
    code: 'invalid_shape',
    change: (s) => (block(s, 'sms').position = { x: 'a', y: 0 }),
    block: 'sms',
  },
  {
    name: 'start not boolean',
    code: 'invalid_shape',
    change: (s) => (block(s, 'sms').start = 'yes'),
    block: 'sms',
  },
  { name: 'name too long', code: 'invalid_shape', change: (s) => (s.name = 'я'.repeat(201)), field: 'name' },
  {
    name: 'link to a bad id',
    code: 'invalid_shape',
    change: (s) => (link(s, 'l8').to = 7),
    link: 'l8',
    field: 'to',
  },
  {
    name: 'unknown link kind',
    code: 'invalid_shape',
    change: (s) => (link(s, 'l8').kind = 'timeout'),
    link: 'l8',
  },
  // unknown_field
  {
    name: 'extra scheme field',
    code: 'unknown_field',
    change: (s) => (s.owner = 1),
    block: null,
    field: 'owner',
  },
  {
    name: 'extra block field',
    code: 'unknown_field',
    change: (s) => (block(s, 'done').channel = 'sms'),
    block: 'done',
  },
  {
    name: 'field of another link kind',
    code: 'unknown_field',
    change: (s) => (link(s, 'l8').words = ['да']),
    link: 'l8',
    field: 'words',
  },
  // duplicate_id
  {
    name: 'two blocks, one id',
    code: 'duplicate_id',
    change: (s) => s.blocks.push({ id: 'done', kind: 'goal' }),
    block: 'done',
  },
  {
    name: 'two links, one id',
    code: 'duplicate_id',
    change: (s) => s.links.push({ id: 'l1', from: 'vk', to: 'done', kind: 'status', status: 'delivered' }),
    link: 'l1',
  },
  // invalid_channel
  {
    name: 'unknown channel',
    code: 'invalid_channel',
    change: (s) => (block(s, 'sms').channel = 'telegram'),
    block: 'sms',
  },
  {
    name: 'no channel',
    code: 'invalid_channel',
    change: (s) => delete block(s, 'sms').channel,
    block: 'sms',
  },
  // start
  { name: 'no start', code: 'no_start_block', change: (s) => delete block(s, 'viber').start, block: null },
  {
    name: 'two starts',
    code: 'multiple_start_blocks',
    change: (s) => (block(s, 'sms').start = true),
    block: 'sms',
  },
  {
    name: 'goal as start',
    code: 'invalid_start_block',
    change: (s) => {
      s.blocks = [{ id: 'done', kind: 'goal', start: true }];
      s.links = [];
    },
    block: 'done',
  },
  // unknown_block
  {
    name: 'link to nowhere',
    code: 'unknown_block',
    change: (s) => (link(s, 'l8').to = 'nowhere'),
    link: 'l8',
    field: 'to',
  },
  {
    name: 'link from nowhere',
    code: 'unknown_block',
    change: (s) => (link(s, 'l8').from = 'ghost'),
    link: 'l8',
  },
  // unreachable_block
  {
    name: 'island',
    code: 'unreachable_block',
    change: (s) => s.blocks.push({ id: 'lost', kind: 'goal' }),
    block: 'lost',
  },
  // cycle
  {
    name: 'loop back to the start',
    code: 'cycle',
    change: (s) =>
      s.links.push({ id: 'back', from: 'sms', to: 'viber', kind: 'status', status: 'undelivered' }),
    block: 'sms',
    link: 'back',
  },
  {
    name: 'self loop',
    code: 'cycle',
    change: (s) =>
      s.links.push({ id: 'self', from: 'sms', to: 'sms', kind: 'status', status: 'undelivered' }),
    link: 'self',
  },
  // invalid_link_kind
  {
    name: 'ivr out of SMS',
    code: 'invalid_link_kind',
    change: (s) => s.links.push({ id: 'x', from: 'sms', to: 'done', kind: 'ivr', digits: ['1'] }),
    link: 'x',
  },
  {
    name: 'response out of voice',
    code: 'invalid_link_kind',
    change: (s) => s.links.push({ id: 'x', from: 'voice', to: 'done', kind: 'response', words: ['да'] }),
    link: 'x',
  },
  {
    name: 'next out of a send block',
    code: 'invalid_link_kind',
    change: (s) => s.links.push({ id: 'x', from: 'sms', to: 'vk', kind: 'next' }),
    link: 'x',
  },
  {
    name: 'status out of a delay',
    code: 'invalid_link_kind',
    change: (s) =>
      (s.links = s.links.map((l) => (l.id === 'l7' ? { ...l, kind: 'status', status: 'delivered' } : l))),
    link: 'l7',
  },
  // invalid_status
  {
    name: 'voice status on Viber',
    code: 'invalid_status',
    change: (s) => (link(s, 'l2').status = 'answered'),
    link: 'l2',
  },
  { name: 'spam on SMS', code: 'invalid_status', change: (s) => (link(s, 'l8').status = 'spam'), link: 'l8' },
  {
    name: 'clicked on VK',
    code: 'invalid_status',
    change: (s) => (link(s, 'l9').status = 'clicked'),
    link: 'l9',
  },
  {
    name: 'unknown status',
    code: 'invalid_status',
    change: (s) => (link(s, 'l8').status = 'read'),
    link: 'l8',
  },
  { name: 'missing status', code: 'invalid_status', change: (s) => delete link(s, 'l8').status, link: 'l8' },
  {
    name: 'ivr status without a menu',
    code: 'invalid_status',
    change: (s) => {
      delete content(s, 'voice').ivr;
      s.links = s.links.filter((l) => l.id !== 'l5');
      s.blocks = s.blocks.filter((b) => b.id !== 'wait' && b.id !== 'vk');
      s.links = s.links.filter((l) => l.id !== 'l7' && l.id !== 'l9');
    },
    link: 'l10',
  },
  // invalid_response_words
  { name: 'no words', code: 'invalid_response_words', change: (s) => (link(s, 'l3').words = []), link: 'l3' },
  {
    name: 'punctuation only',
    code: 'invalid_response_words',
    change: (s) => (link(s, 'l3').words = ['!!!']),
    link: 'l3',
  },
  {
    name: 'words missing',
    code: 'invalid_response_words',
    change: (s) => delete link(s, 'l3').words,
    link: 'l3',
  },
  // invalid_digits
  {
    name: 'two-digit key',
    code: 'invalid_digits',
    change: (s) => (link(s, 'l5').digits = ['12']),
    link: 'l5',
  },
  { name: 'letter key', code: 'invalid_digits', change: (s) => (link(s, 'l5').digits = ['a']), link: 'l5' },
  { name: 'no keys', code: 'invalid_digits', change: (s) => (link(s, 'l5').digits = []), link: 'l5' },
  // digit_not_in_menu
  {
    name: 'key not in menu',
    code: 'digit_not_in_menu',
    change: (s) => (link(s, 'l5').digits = ['5']),
    link: 'l5',
  },
  { name: 'no menu', code: 'digit_not_in_menu', change: (s) => delete content(s, 'voice').ivr, link: 'l5' },
  // invalid_error_reason
  {
    name: 'unknown reason',
    code: 'invalid_error_reason',
    change: (s) => (link(s, 'l4').errors = ['boom']),
    link: 'l4',
  },
  {
    name: 'empty reasons',
    code: 'invalid_error_reason',
    change: (s) => (link(s, 'l4').errors = []),
    link: 'l4',
  },
  // goal_has_links
  {
    name: 'link out of a goal',
    code: 'goal_has_links',
    change: (s) => s.links.push({ id: 'x', from: 'done', to: 'sms', kind: 'status', status: 'delivered' }),
    block: 'done',
    link: 'x',
  },
  // delay_link_count
  {
    name: 'delay without a link',
    code: 'delay_link_count',
    change: (s) => (link(s, 'l7').from = 'sms'),
    block: 'wait',
  },
  {
    name: 'delay with two links',
    code: 'delay_link_count',
    change: (s) => s.links.push({ id: 'x', from: 'wait', to: 'done', kind: 'next' }),
    block: 'wait',
  },
  // decision_time_out_of_bounds
  {
    name: 'too short',
    code: 'decision_time_out_of_bounds',
    change: (s) => (block(s, 'sms').decisionTimeSec = 59),
    block: 'sms',
    field: 'decisionTimeSec',
  },
  {
    name: 'too long',
    code: 'decision_time_out_of_bounds',
    change: (s) => (block(s, 'sms').decisionTimeSec = 72 * 3600 + 1),
    block: 'sms',
  },
  {
    name: 'fractional',
    code: 'decision_time_out_of_bounds',
    change: (s) => (block(s, 'sms').decisionTimeSec = 90.5),
    block: 'sms',
  },
  {
    name: 'missing',
    code: 'decision_time_out_of_bounds',
    change: (s) => delete block(s, 'sms').decisionTimeSec,
    block: 'sms',
  },
  {
    name: 'redials outlast it',
    code: 'decision_time_out_of_bounds',
    change: (s) => (content(s, 'voice').retry = { attempts: 6, intervalSec: 600 }),
    block: 'voice',
  },
  // delay_out_of_bounds
  {
    name: 'zero delay',
    code: 'delay_out_of_bounds',
    change: (s) => (block(s, 'wait').durationSec = 0),
    block: 'wait',
  },
  {
    name: 'delay missing',
    code: 'delay_out_of_bounds',
    change: (s) => delete block(s, 'wait').durationSec,
    block: 'wait',
  },
  {
    name: 'delay over 30 days',
    code: 'delay_out_of_bounds',
    change: (s) => (block(s, 'wait').durationSec = 31 * 86400),
    block: 'wait',
  },
  // invalid_content
  {
    name: 'blank SMS',
    code: 'invalid_content',
    change: (s) => (content(s, 'sms').text = '  '),
    block: 'sms',
    field: 'content.text',
  },
  {
    name: 'long SMS',
    code: 'invalid_content',
    change: (s) => (content(s, 'sms').text = 'а'.repeat(1001)),
    block: 'sms',
  },
  {
    name: 'bad SMS sender',
    code: 'invalid_content',
    change: (s) => (content(s, 'sms').sender = 'Магазин'),
    block: 'sms',
  },
  {
    name: 'no content',
    code: 'invalid_content',
    change: (s) => delete block(s, 'sms').content,
    block: 'sms',
  },
  {
    name: 'Viber button without URL',
    code: 'invalid_content',
    change: (s) => delete content(s, 'viber').buttonUrl,
    block: 'viber',
    field: 'content.buttonUrl',
  },
  {
    name: 'Viber button URL not http',
    code: 'invalid_content',
    change: (s) => (content(s, 'viber').buttonUrl = 'javascript:alert(1)'),
    block: 'viber',
  },
  {
    name: 'Viber image with a text',
    code: 'invalid_content',
    change: (s) =>
      (block(s, 'viber').content = { format: 'image', imageUrl: 'https://x.example/a.png', text: TEXT }),
    block: 'viber',
    field: 'content.text',
  },
  {
    name: 'Viber long button text',
    code: 'invalid_content',
    change: (s) => (content(s, 'viber').buttonText = 'к'.repeat(31)),
    block: 'viber',
  },
  {
    name: 'unknown Viber format',
    code: 'invalid_content',
    change: (s) => (content(s, 'viber').format = 'video'),
    block: 'viber',
    field: 'content.format',
  },
  {
    name: 'TTS without text',
    code: 'invalid_content',
    change: (s) => delete content(s, 'voice').text,
    block: 'voice',
  },
  {
    name: 'audio without file',
    code: 'invalid_content',
    change: (s) => (content(s, 'voice').kind = 'audio'),
    block: 'voice',
    field: 'content.audioFileId',
  },
  {
    name: 'connect to a non-E.164 phone',
    code: 'invalid_content',
    change: (s) => (content(s, 'voice').ivr = { '1': { action: 'connect', phone: '88001234567' } }),
    block: 'voice',
    field: 'content.ivr.1.phone',
  },
  {
    name: 'unknown IVR action',
    code: 'invalid_content',
    change: (s) => (content(s, 'voice').ivr = { '1': { action: 'transfer' } }),
    block: 'voice',
  },
  {
    name: 'VK without text',
    code: 'invalid_content',
    change: (s) => delete content(s, 'vk').text,
    block: 'vk',
  },
  // duplicate_link
  {
    name: 'same status twice',
    code: 'duplicate_link',
    change: (s) => s.links.push({ id: 'x', from: 'viber', to: 'sms', kind: 'status', status: 'delivered' }),
    link: 'x',
  },
  {
    name: 'same word twice (case and ё)',
    code: 'duplicate_link',
    change: (s) => {
      link(s, 'l3').words = ['ещё'];
      s.links.push({ id: 'x', from: 'viber', to: 'done', kind: 'response', words: ['нет', 'ЕЩЕ'] });
    },
    link: 'x',
  },
  {
    name: 'same key twice',
    code: 'duplicate_link',
    change: (s) => s.links.push({ id: 'x', from: 'voice', to: 'done', kind: 'ivr', digits: ['9', '1'] }),
    link: 'x',
  },
  {
    name: 'any error beside a specific one',
    code: 'duplicate_link',
    change: (s) => s.links.push({ id: 'x', from: 'viber', to: 'done', kind: 'error' }),
    link: 'x',
  },
];

describe('validateScheme', () => {
  it('accepts a scheme with every block and link kind, and returns it typed', () => {
    const result = validateScheme(fixture());
    expect(result.errors).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.scheme).toEqual(fixture());
  });

  it('accepts a one-block SMS cascade with no links', () => {
    const scheme = {
      blocks: [
        { id: 's', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 60, content: { text: 'Hi' } },
      ],
      links: [],
    };
    expect(validateScheme(scheme).valid).toBe(true);
  });

  it.each(cases)('$code: $name', ({ code, change, input, block: blockId, link: linkId, field }) => {
    const scheme = fixture();
    change?.(scheme);
    const result = validateScheme(input ? input(scheme) : scheme);
    expect(result.valid).toBe(false);
    expect(result.scheme).toBeUndefined();
    const found = result.errors.filter((error) => error.code === code);
    expect(found, JSON.stringify(result.errors, null, 2)).not.toHaveLength(0);
    const match = found.find(
      (error) =>
        (blockId === undefined || error.block === blockId) &&
        (linkId === undefined || error.link === linkId) &&
        (field === undefined || error.field === field),
    );
    expect(match, JSON.stringify(found, null, 2)).toBeDefined();
    if (linkId) expect(match?.message).toContain(`"${linkId}"`);
    else if (blockId) expect(match?.message).toContain(`"${blockId}"`);
  });

  it('has a failing example for every error code', () => {
    const covered = new Set(cases.map((c) => c.code));
    expect(schemeErrorCodes.filter((code) => !covered.has(code))).toEqual([]);
  });

  it('reports every problem at once, not only the first', () => {
    const scheme = fixture();
    content(scheme, 'sms').text = '';
    block(scheme, 'wait').durationSec = 1;
    link(scheme, 'l2').status = 'answered';
    const codes = validateScheme(scheme).errors.map((error) => error.code);
    expect(codes).toEqual(
      expect.arrayContaining(['invalid_content', 'delay_out_of_bounds', 'invalid_status']),
    );
  });

  it('names the whole cycle', () => {
    const scheme = fixture();
    scheme.links.push({ id: 'back', from: 'vk', to: 'voice', kind: 'status', status: 'undelivered' });
    const cycle = validateScheme(scheme).errors.find((error) => error.code === 'cycle');
    expect(cycle?.message).toContain('voice → wait → vk → voice');
  });
});

describe('assertValidScheme', () => {
  it('returns a valid scheme', () => {
    expect(assertValidScheme(fixture()).blocks).toHaveLength(6);
  });

  it('throws validation_failed naming the first problem', () => {
    const scheme = fixture();
    content(scheme, 'sms').text = '';
    try {
      assertValidScheme(scheme);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('validation_failed');
      expect((error as AppError).field).toBe('blocks.sms.content.text');
    }
  });
});
