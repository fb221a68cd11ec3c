import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The web page in headless Chromium (npm run test:web, after npm run build:web).
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/web/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
