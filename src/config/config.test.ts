import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('reads the engine lanes, leaving the default to the database when unset or empty', () => {
    expect(loadConfig({ OMNITALK_ENGINE_LANES: '3' }).engineLanes).toBe(3);
    expect(loadConfig({}).engineLanes).toBeNull();
    expect(loadConfig({ OMNITALK_ENGINE_LANES: '' }).engineLanes).toBeNull();
  });

  it('leaves the engine batch to the database when unset', () => {
    expect(loadConfig({}).engineBatch).toBeNull();
    expect(loadConfig({ OMNITALK_ENGINE_BATCH: '700' }).engineBatch).toBe(700);
  });

  it('reads the embedded database buffer pool size', () => {
    expect(loadConfig({ OMNITALK_PGLITE_SHARED_BUFFERS: '1GB' }).pgliteSharedBuffers).toBe('1GB');
    expect(loadConfig({}).pgliteSharedBuffers).toBeNull();
  });

  it('refuses a bad variable by name', () => {
    expect(() => loadConfig({ OMNITALK_ENGINE_LANES: '0' })).toThrow(/OMNITALK_ENGINE_LANES/);
    expect(() => loadConfig({ OMNITALK_ENGINE_LANES: 'two' })).toThrow(/OMNITALK_ENGINE_LANES/);
    expect(() => loadConfig({ OMNITALK_ENGINE_BATCH: '-5' })).toThrow(/OMNITALK_ENGINE_BATCH/);
    expect(() => loadConfig({ OMNITALK_PGLITE_SHARED_BUFFERS: 'lots' })).toThrow(
      /OMNITALK_PGLITE_SHARED_BUFFERS/,
    );
    expect(() => loadConfig({ OMNITALK_PGLITE_SHARED_BUFFERS: '512' })).toThrow(
      /OMNITALK_PGLITE_SHARED_BUFFERS/,
    );
  });
});
