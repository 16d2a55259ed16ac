import { describe, expect, it } from 'vitest';
import { decideSendBlock } from './decide.ts';
import type { Scheme, SendBlock } from './model.ts';
import { listStandardTemplates, standardTemplate, standardTemplateKeys } from './templates.ts';
import { validateScheme } from './validate.ts';

/** "from -status-> to" for every link, to compare a template's shape at a glance. */
const edges = (scheme: Scheme) =>
  scheme.links.map(
    (link) => `${link.from} -${link.kind === 'status' ? link.status : link.kind}-> ${link.to}`,
  );
const channels = (scheme: Scheme) =>
  scheme.blocks.map((block) => (block.kind === 'send' ? block.channel : block.kind));

describe('standard templates', () => {
  it.each(standardTemplateKeys)('%s is a valid scheme', (key) => {
    const result = validateScheme(standardTemplate(key));
    expect(result.errors).toEqual([]);
    expect(result.scheme).toEqual(standardTemplate(key));
  });

  it('Viber/Голос/СМС: Viber, then a call if undelivered, then SMS if unanswered; goals on success', () => {
    const scheme = standardTemplate('viber_voice_sms');
    expect(scheme.name).toBe('Viber/Голос/СМС');
    expect(channels(scheme)).toEqual(['viber', 'goal', 'voice', 'goal', 'sms', 'goal']);
    expect(edges(scheme)).toEqual([
      'viber -delivered-> viber-goal',
      'viber -undelivered-> voice',
      'voice -answered-> voice-goal',
      'voice -no_answer-> sms',
      'sms -delivered-> sms-goal',
    ]);
  });

  it('Viber/СМС: Viber, then SMS if undelivered; goals on success', () => {
    const scheme = standardTemplate('viber_sms');
    expect(scheme.name).toBe('Viber/СМС');
    expect(channels(scheme)).toEqual(['viber', 'goal', 'sms', 'goal']);
    expect(edges(scheme)).toEqual([
      'viber -delivered-> viber-goal',
      'viber -undelivered-> sms',
      'sms -delivered-> sms-goal',
    ]);
  });

  it('starts with Viber and routes a viewed message to its goal', () => {
    const scheme = standardTemplate('viber_sms');
    const viber = scheme.blocks.find(
      (block): block is SendBlock => block.kind === 'send' && block.start === true,
    )!;
    expect(viber.channel).toBe('viber');
    const sentAt = new Date('2026-01-01T00:00:00Z');
    const after = new Date(sentAt.getTime() + viber.decisionTimeSec * 1000);
    const decision = decideSendBlock(
      viber,
      scheme.links,
      { channel: 'viber', sentAt, statuses: new Set(['viewed']) },
      after,
    );
    expect(decision).toEqual({ action: 'follow', linkId: 'viber-delivered', trigger: 'decision_time' });
  });

  it('hands out fresh copies', () => {
    const first = standardTemplate('viber_sms');
    first.blocks.pop();
    expect(standardTemplate('viber_sms').blocks).toHaveLength(4);
  });

  it('lists the templates with their Russian names', () => {
    expect(listStandardTemplates()).toEqual([
      { key: 'viber_voice_sms', name: 'Viber/Голос/СМС' },
      { key: 'viber_sms', name: 'Viber/СМС' },
    ]);
  });
});
