import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'sdk/src/**/*.test.ts'],
    // Generous: CI runs every file on PGlite and PostgreSQL on two shared cores; timeouts only catch hangs.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
