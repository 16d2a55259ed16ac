import { describe, expect, it } from 'vitest';
import { serviceContentSchema } from '../scheme/content.ts';
import type { Scheme } from '../scheme/model.ts';
import { sendBlocksOf } from './gate.ts';
import { sniffLetterType } from './letters.ts';
import { senderNameSchemas } from './vocabulary.ts';

describe('sender names', () => {
  it.each([
    ['sms', 'Shop-24', true],
    ['sms', '+79001234567', true],
    ['sms', 'Магазин', false],
    ['sms', 'ShopShopShop', false],
    ['viber', 'Цветочный магазин', true],
    ['viber', 'x'.repeat(65), false],
    ['vk', 'club123', true],
    ['vk', '-123456', true],
    ['ok', 'клуб', false],
    ['whatsapp', '+78001234567', true],
    ['whatsapp', '88001234567', false],
  ] as const)('%s %s: %s', (channel, name, ok) => {
    expect(senderNameSchemas[channel].safeParse(name).success).toBe(ok);
  });

  it('a VK/OK block names its community the same way', () => {
    expect(serviceContentSchema.safeParse({ text: 'x', sender: 'club123' }).success).toBe(true);
    expect(serviceContentSchema.safeParse({ text: 'x', sender: 'мой клуб' }).success).toBe(false);
  });
});

describe('sniffLetterType', () => {
  it('knows PDF, JPEG and PNG by their first bytes only', () => {
    expect(sniffLetterType(Buffer.from('%PDF-1.7'))).toBe('application/pdf');
    expect(sniffLetterType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffLetterType(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe('image/png');
    expect(sniffLetterType(Buffer.from('PK\u0003\u0004'))).toBeNull();
    expect(sniffLetterType(Buffer.alloc(0))).toBeNull();
  });
});

describe('sendBlocksOf', () => {
  const scheme = {
    blocks: [
      { id: 'a', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 60, content: { text: 'x' } },
      { id: 'd', kind: 'delay', durationSec: 60 },
      { id: 'b', kind: 'send', channel: 'vk', decisionTimeSec: 60, content: { text: 'y' } },
    ],
    links: [],
  } as Scheme;

  it('names each send block by the input field it came from', () => {
    expect(sendBlocksOf({}, [scheme]).map((r) => r.field)).toEqual([
      'scheme.blocks.a.content',
      'scheme.blocks.b.content',
    ]);
    expect(sendBlocksOf({ single: { channel: 'sms', content: {} } }, [scheme])[0]!.field).toBe(
      'single.content',
    );
    const variants = [
      { percent: 50, scheme },
      { percent: 50, scheme },
    ];
    expect(sendBlocksOf({ variants }, [scheme, scheme]).map((r) => r.field)).toEqual([
      'variants.0.scheme.blocks.a.content',
      'variants.0.scheme.blocks.b.content',
      'variants.1.scheme.blocks.a.content',
      'variants.1.scheme.blocks.b.content',
    ]);
  });
});
