import { describe, expect, it } from 'vitest';
import { crmConnectors, twoWaySystems } from '../../src/integrations/crm/registry.ts';
import {
  type SettingsShape,
  secretKeys,
  settingsForm,
  transientKeys,
} from '../../src/integrations/crm/settings.ts';
import { crmSystems } from '../../src/integrations/crm/types.ts';

describe('CRM registry', () => {
  it('has one connector per system of SPEC IN-1..IN-11, under its own id', () => {
    expect(Object.keys(crmConnectors).sort()).toEqual([...crmSystems].sort());
    for (const system of crmSystems) expect(crmConnectors[system].id).toBe(system);
  });

  it('declares titles in Russian and English, a rate limit with its source, and a settings form', () => {
    for (const connector of Object.values(crmConnectors)) {
      expect(connector.title.ru && connector.title.en).toBeTruthy();
      expect(connector.rateLimit.requestsPerSecond).toBeGreaterThan(0);
      expect(connector.rateLimit.source).not.toBe('');
      const schema = connector.settingsSchema as unknown as SettingsShape;
      expect(settingsForm(schema).length).toBeGreaterThan(0);
      // Every connector has a credential, marked secret (stored encrypted) or transient (never stored:
      // Megaplan's password, traded for a token kept in the token store).
      expect(secretKeys(schema).length + transientKeys(schema).length).toBeGreaterThan(0);
    }
  });

  it('knows which systems talk back', () => {
    expect(twoWaySystems.sort()).toEqual(['bitrix24', 'gravitel', 'omnidesk', 'planfix']);
  });
});
