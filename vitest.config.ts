import { defineConfig } from 'vitest/config';

// Unit tests. The ONNX backend-data conformance suite is slow and runs on its own: npm run test:conformance.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/conformance/**', '**/node_modules/**'],
  },
});
