import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { channelStatuses, sendChannels } from '../../mailings/scheme/vocabulary.ts';
import { ManualClock } from '../../shared/clock.ts';
import { AppError } from '../../shared/errors.ts';
import {
  defaultSandboxSettings,
  getSandboxSettings,
  getSandboxSettingsFor,
  parseSandboxSettings,
  resetSandboxSettings,
  sandboxDefaults,
  sandboxSettingsJsonSchema,
  setSandboxSettings,
} from './settings.ts';

const failure = (input: unknown): AppError => {
  try {
    parseSandboxSettings(input);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
};

const sum = (shares: Record<string, number>) => Object.values(shares).reduce((a, b) => a + b, 0);

describe('sandbox settings schema', () => {
  it('has defaults for every channel whose shares add up to 1', () => {
    expect(parseSandboxSettings({})).toEqual(defaultSandboxSettings);
    for (const channel of sendChannels) {
      const own = defaultSandboxSettings[channel];
      expect(Object.keys(own.outcomes).sort()).toEqual([...channelStatuses[channel]].sort());
      expect(Object.keys(own.delaysSec).sort()).toEqual([...channelStatuses[channel]].sort());
      expect(sum(own.outcomes)).toBeCloseTo(1, 9);
      expect(sum(own.submitError.reasons)).toBeCloseTo(1, 9);
    }
    expect(sum(defaultSandboxSettings.voice.ivrDigits)).toBeCloseTo(1, 9);
  });

  it('defaults look like reality: Viber reaches ~60%, SMS ~95%, half the calls are answered', () => {
    const { viber, sms, voice } = defaultSandboxSettings;
    expect(1 - viber.outcomes.undelivered).toBeCloseTo(0.6, 2);
    expect(1 - sms.outcomes.undelivered).toBeCloseTo(0.95, 2);
    expect(1 - voice.outcomes.no_answer).toBeCloseTo(0.5, 2);
    expect(viber.delaysSec.delivered.max).toBeLessThan(viber.delaysSec.viewed.max);
  });

  it('fills what is left out with defaults; a share left out of a given distribution is 0', () => {
    const settings = parseSandboxSettings({
      seed: 42,
      viber: { outcomes: { delivered: 0.5, undelivered: 0.5 }, delaysSec: { viewed: { min: 1, max: 2 } } },
    });
    expect(settings.seed).toBe(42);
    expect(settings.viber.outcomes).toEqual({
      spam: 0,
      unsubscribed: 0,
      clicked: 0,
      viewed: 0,
      delivered: 0.5,
      undelivered: 0.5,
    });
    expect(settings.viber.delaysSec.viewed).toEqual({ min: 1, max: 2 });
    expect(settings.viber.delaysSec.delivered).toEqual(sandboxDefaults.viber.delaysSec.delivered);
    expect(settings.viber.reply).toEqual(defaultSandboxSettings.viber.reply);
    expect(settings.sms).toEqual(defaultSandboxSettings.sms);
  });

  it('never hands out the shared defaults to be changed', () => {
    expect(Object.isFrozen(defaultSandboxSettings.viber.outcomes)).toBe(true);
    const parsed = parseSandboxSettings({});
    parsed.viber.outcomes.viewed = 0.9;
    parsed.sms.reply.texts.push('x');
    expect(parseSandboxSettings({}).viber.outcomes.viewed).toBe(sandboxDefaults.viber.outcomes.viewed);
    expect(parseSandboxSettings({}).sms.reply.texts).toEqual(sandboxDefaults.sms.reply.texts);
  });

  it.each([
    [
      { viber: { outcomes: { delivered: 0.5, undelivered: 0.4 } } },
      'viber.outcomes',
      'add up to 1 (they add up to 0.9)',
    ],
    [{ sms: { outcomes: { delivered: 1, clicked: 0.2 } } }, 'sms.outcomes', 'add up to 1'],
    [{ ok: { outcomes: { viewed: 1.5 } } }, 'ok.outcomes.viewed', 'at most 1'],
    [{ vk: { outcomes: { viewed: -0.1, delivered: 1.1 } } }, 'vk.outcomes.viewed', 'at least 0'],
    [{ voice: { ivrDigits: { '1': 0.5 } } }, 'voice.ivrDigits', 'add up to 1'],
    [{ voice: { ivrDigits: { x: 1 } } }, 'voice.ivrDigits.x', 'not a known'],
    [
      { sms: { delaysSec: { delivered: { min: -5, max: 10 } } } },
      'sms.delaysSec.delivered.min',
      'at least 1 second',
    ],
    [
      { viber: { delaysSec: { viewed: { min: 60, max: 10 } } } },
      'viber.delaysSec.viewed.max',
      'not be less than min',
    ],
    [
      { viber: { delaysSec: { viewed: { min: 1.5, max: 10 } } } },
      'viber.delaysSec.viewed.min',
      'whole number',
    ],
    [{ viber: { delaysSec: { viewed: { min: 1 } } } }, 'viber.delaysSec.viewed.max', 'is required'],
    [
      { viber: { delaysSec: { viewed: { min: 1, max: 10_000_000 } } } },
      'viber.delaysSec.viewed.max',
      'at most',
    ],
    [{ viber: { delaysSec: { answered: { min: 1, max: 2 } } } }, 'viber.delaysSec.answered', 'not a known'],
    [{ sms: { reply: { probability: 2 } } }, 'sms.reply.probability', 'at most 1'],
    [{ vk: { reply: { texts: [] } } }, 'vk.reply.texts', 'at least one'],
    [{ vk: { reply: { texts: ['ok', '  '] } } }, 'vk.reply.texts.1', 'blank'],
    [{ voice: { reply: { probability: 0.1 } } }, 'voice.reply', 'not a known'],
    [{ sms: { submitError: { probability: 'often' } } }, 'sms.submitError.probability', 'must be a number'],
    [
      { sms: { submitError: { reasons: { invalid_number: 0.5 } } } },
      'sms.submitError.reasons',
      'add up to 1',
    ],
    [{ sms: { submitError: { reasons: { timeout: 1 } } } }, 'sms.submitError.reasons.timeout', 'not a known'],
    [{ seed: -1 }, 'seed', 'at least 0'],
    [{ seed: 2 ** 32 }, 'seed', 'at most'],
    [{ whatsapp: {} }, 'whatsapp', 'not a known'],
    [{ viber: 'fast' }, 'viber', 'must be an object'],
    ['everything', 'settings', 'must be an object'],
  ])('refuses %j naming %s', (input, field, text) => {
    const error = failure(input);
    expect(error.code).toBe('validation_failed');
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
    expect(error.message).toContain(text);
  });

  it('describes itself as a JSON Schema for the settings form', () => {
    const schema = sandboxSettingsJsonSchema() as {
      properties: Record<string, { properties?: Record<string, unknown> }>;
    };
    expect(Object.keys(schema.properties).sort()).toEqual(['ok', 'seed', 'sms', 'viber', 'vk', 'voice']);
    expect(Object.keys(schema.properties.voice!.properties!)).toContain('ivrDigits');
    expect(Object.keys(schema.properties.viber!.properties!)).toContain('reply');
  });
});

describe.each(backends)('sandbox settings storage on $name', (backend) => {
  let database: Database;
  const clock = new ManualClock('2026-03-02T09:00:00Z');
  let accountSeq = 0;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });
  const db = () => database.db;
  const newAccount = async () =>
    (
      await db()
        .insertInto('accounts')
        .values({ name: `settings ${++accountSeq}`, created_at: clock.now() })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;

  it('an account that saved nothing gets the defaults', async () => {
    expect(await getSandboxSettings(db(), await newAccount())).toEqual(defaultSandboxSettings);
  });

  it('saves, reads back and replaces settings; reset returns to defaults', async () => {
    const accountId = await newAccount();
    const saved = await setSandboxSettings(db(), clock, accountId, {
      seed: 9,
      sms: { outcomes: { delivered: 1 } },
    });
    expect(saved.sms.outcomes).toEqual({ clicked: 0, delivered: 1, undelivered: 0 });
    expect(await getSandboxSettings(db(), accountId)).toEqual(saved);

    clock.advance(1000);
    const replaced = await setSandboxSettings(db(), clock, accountId, { seed: 10 });
    expect(replaced.sms).toEqual(defaultSandboxSettings.sms);
    expect(await getSandboxSettings(db(), accountId)).toEqual(replaced);
    const row = await db()
      .selectFrom('sandbox_settings')
      .select('updated_at')
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(new Date(row.updated_at)).toEqual(clock.now());

    await resetSandboxSettings(db(), accountId);
    expect(await getSandboxSettings(db(), accountId)).toEqual(defaultSandboxSettings);
  });

  it('invalid input changes nothing', async () => {
    const accountId = await newAccount();
    const saved = await setSandboxSettings(db(), clock, accountId, { seed: 5 });
    await expect(
      setSandboxSettings(db(), clock, accountId, { seed: 6, viber: { outcomes: { viewed: 0.2 } } }),
    ).rejects.toMatchObject({ code: 'validation_failed', field: 'viber.outcomes' });
    expect(await getSandboxSettings(db(), accountId)).toEqual(saved);
  });

  it('reads several accounts at once, defaults for those without a row', async () => {
    const a = await newAccount();
    const b = await newAccount();
    const saved = await setSandboxSettings(db(), clock, a, { seed: 77 });
    const map = await getSandboxSettingsFor(db(), [a, b, a]);
    expect(map.size).toBe(2);
    expect(map.get(a)).toEqual(saved);
    expect(map.get(b)).toEqual(defaultSandboxSettings);
    expect((await getSandboxSettingsFor(db(), [])).size).toBe(0);
  });

  it('a stored row that no longer parses falls back to defaults instead of stopping the sandbox', async () => {
    const accountId = await newAccount();
    await db()
      .insertInto('sandbox_settings')
      .values({ account_id: accountId, settings: JSON.stringify({ seed: 'x' }), updated_at: clock.now() })
      .execute();
    expect(await getSandboxSettings(db(), accountId)).toEqual(defaultSandboxSettings);
  });
});
