import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('reads the engine lanes, leaving the default to the database when unset or empty', () => {
    expect(loadConfig({ OMNITALK_ENGINE_LANES: '3' }).engineLanes).toBe(3);
    expect(loadConfig({}).engineLanes).toBeNull();
    expect(loadConfig({ OMNITALK_ENGINE_LANES: '' }).engineLanes).toBeNull();
  });

  it('refuses a bad variable by name', () => {
    expect(() => loadConfig({ OMNITALK_ENGINE_LANES: '0' })).toThrow(/OMNITALK_ENGINE_LANES/);
    expect(() => loadConfig({ OMNITALK_ENGINE_LANES: 'two' })).toThrow(/OMNITALK_ENGINE_LANES/);
    expect(() => loadConfig({ OMNITALK_ENGINE_BATCH: '-5' })).toThrow(/OMNITALK_ENGINE_BATCH/);
  });
});
