import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The conformance suite over ONNX's backend test data (apt package libonnx-testdata): every model read and
// re-encoded, and every case with inputs run through onnxruntime-node before and after. npm run test:conformance.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/conformance/**/*.test.ts'],
    globalSetup: ['test/conformance/setup.ts'],
    testTimeout: 120_000,
  },
});
