import { defineConfig } from 'vitest/config';

// Unit tests. The ONNX backend-data conformance suite is slow and runs on its own: npm run test:conformance; the web
// page needs a build and Chromium: npm run test:web.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/conformance/**', 'test/web/**', '**/node_modules/**'],
  },
});
