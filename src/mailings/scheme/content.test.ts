import { describe, expect, it } from 'vitest';
import { contentSchemas } from './content.ts';
import type { SendChannel } from './vocabulary.ts';

const URL = 'https://shop.example/promo';

describe('content schemas accept every documented form', () => {
  it.each<{ channel: SendChannel; content: unknown }>([
    { channel: 'sms', content: { text: 'Привет' } },
    { channel: 'sms', content: { text: 'Привет', sender: 'Shop-24' } },
    { channel: 'sms', content: { text: 'Привет', sender: '+79001234567' } },
    { channel: 'viber', content: { format: 'text', text: 'Привет', sender: 'Магазин' } },
    { channel: 'viber', content: { format: 'image', imageUrl: `${URL}.png` } },
    {
      channel: 'viber',
      content: { format: 'text_button', text: 'Привет', buttonText: 'Открыть', buttonUrl: URL },
    },
    {
      channel: 'viber',
      content: {
        format: 'text_image_button',
        text: 'Привет',
        imageUrl: `${URL}.jpg`,
        buttonText: 'Открыть',
        buttonUrl: URL,
      },
    },
    { channel: 'voice', content: { kind: 'tts', text: 'Здравствуйте' } },
    { channel: 'voice', content: { kind: 'audio', audioFileId: 'file-1' } },
    { channel: 'voice', content: { kind: 'studio', audioFileId: 'file-2', text: 'Сценарий' } },
    {
      channel: 'voice',
      content: {
        kind: 'tts',
        text: 'Нажмите 1 для связи с оператором, 2 чтобы повторить, 9 чтобы отписаться',
        ivr: {
          '1': { action: 'connect', phone: '+78001234567', maxSimultaneous: 3, maxPerMinute: 10 },
          '2': { action: 'repeat' },
          '5': { action: 'record' },
          '9': { action: 'unsubscribe' },
          '#': { action: 'repeat' },
        },
        retry: { attempts: 3, intervalSec: 600 },
      },
    },
    { channel: 'vk', content: { text: 'Заказ №12 готов', templateId: 'tpl-1', sender: 'club123' } },
    { channel: 'ok', content: { text: 'Заказ №12 готов' } },
  ])('$channel: $content', ({ channel, content }) => {
    expect(contentSchemas[channel].safeParse(content).error?.issues ?? []).toEqual([]);
  });
});

describe('content schemas refuse', () => {
  it.each<{ name: string; channel: SendChannel; content: unknown; path: string }>([
    {
      name: 'Cyrillic SMS sender',
      channel: 'sms',
      content: { text: 'a', sender: 'Магазин' },
      path: 'sender',
    },
    {
      name: 'SMS sender over 11',
      channel: 'sms',
      content: { text: 'a', sender: 'ShopShopShop' },
      path: 'sender',
    },
    {
      name: 'Viber text with a button',
      channel: 'viber',
      content: { format: 'text', text: 'a', buttonText: 'b' },
      path: 'buttonText',
    },
    {
      name: 'Viber button without text',
      channel: 'viber',
      content: { format: 'text_button', text: 'a', buttonUrl: URL },
      path: 'buttonText',
    },
    {
      name: 'Viber image without URL',
      channel: 'viber',
      content: { format: 'text_image_button', text: 'a', buttonText: 'b', buttonUrl: URL },
      path: 'imageUrl',
    },
    {
      name: 'Viber text too long',
      channel: 'viber',
      content: { format: 'text', text: 'я'.repeat(1001) },
      path: 'text',
    },
    {
      name: 'TTS too long',
      channel: 'voice',
      content: { kind: 'tts', text: 'я'.repeat(1001) },
      path: 'text',
    },
    {
      name: 'TTS with a file',
      channel: 'voice',
      content: { kind: 'tts', text: 'a', audioFileId: 'f' },
      path: 'audioFileId',
    },
    { name: 'unknown voice kind', channel: 'voice', content: { kind: 'video', text: 'a' }, path: 'kind' },
    { name: 'empty IVR menu', channel: 'voice', content: { kind: 'tts', text: 'a', ivr: {} }, path: 'ivr' },
    {
      name: 'IVR key 10',
      channel: 'voice',
      content: { kind: 'tts', text: 'a', ivr: { '10': { action: 'repeat' } } },
      path: 'ivr',
    },
    {
      name: 'ten redials',
      channel: 'voice',
      content: { kind: 'tts', text: 'a', retry: { attempts: 10, intervalSec: 600 } },
      path: 'retry.attempts',
    },
    {
      name: 'redial every 10 s',
      channel: 'voice',
      content: { kind: 'tts', text: 'a', retry: { attempts: 2, intervalSec: 10 } },
      path: 'retry.intervalSec',
    },
    { name: 'VK text too long', channel: 'vk', content: { text: 'я'.repeat(2049) }, path: 'text' },
    { name: 'OK blank text', channel: 'ok', content: { text: '\n' }, path: 'text' },
  ])('$name', ({ channel, content, path }) => {
    const issues = contentSchemas[channel].safeParse(content).error?.issues ?? [];
    const paths = issues.flatMap((issue) =>
      issue.code === 'unrecognized_keys' ? issue.keys : [issue.path.join('.')],
    );
    expect(paths).toContain(path);
  });
});
