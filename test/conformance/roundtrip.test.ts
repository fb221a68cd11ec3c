// Every model of ONNX's backend test data survives readModel -> encodeModel: the bytes we write decode, with
// onnx-proto and with our own schema, to the same message as the original (tensors compared by value, whichever
// field stores them), and encoding is deterministic (our output re-encodes to itself).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModel, readModelBytes } from '../../src/io/read.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DECODERS, firstDifference } from '../helpers/normalize.js';
import { listModels, testdataDir } from './testdata.js';

const root = testdataDir();
const models = listModels();
const folders = [...new Set(models.map((m) => m.split('/')[0]!))];

const counts = { models: 0, byteIdentical: 0, comparisons: 0, tensors: 0, stable: 0 };

function countTensors(message: unknown): number {
  if (Array.isArray(message)) return message.reduce((n: number, m) => n + countTensors(m), 0);
  if (message === null || typeof message !== 'object') return 0;
  const own = 'elements' in message ? 1 : 0;
  return Object.values(message).reduce((n: number, v) => n + countTensors(v), own);
}

describe('ONNX backend test data: read -> encode round trip', () => {
  it('finds the models', () => {
    expect(models.length).toBeGreaterThan(1000);
  });

  it.each(folders)('%s: every model re-encodes to the same message', (folder) => {
    const failures: string[] = [];
    for (const rel of models.filter((m) => m.startsWith(`${folder}/`))) {
      const path = join(root, rel);
      counts.models++;
      try {
        const original = readFileSync(path);
        const written = encodeModel(readModel(path));
        if (Buffer.compare(original, written) === 0) counts.byteIdentical++;
        // Our own output must be a fixed point: reading and encoding it again gives the same bytes.
        if (Buffer.compare(encodeModel(readModelBytes(written)), written) === 0) counts.stable++;
        else failures.push(`${rel}: encoding what we wrote gives different bytes`);
        for (const decoder of DECODERS) {
          const expected = decoder.decode(original);
          const diff = firstDifference(expected, decoder.decode(written));
          if (diff) failures.push(`${rel} [${decoder.name}] ${diff}`);
          else counts.comparisons++;
          if (decoder === DECODERS[0]) counts.tensors += countTensors(expected);
        }
      } catch (e) {
        failures.push(`${rel}: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  afterAll(() => {
    console.log(
      `conformance round trip: ${counts.models} models, ${counts.comparisons} decoder comparisons equal ` +
        `(${DECODERS.length} decoders), ${counts.tensors} tensors compared by value, ` +
        `${counts.stable} re-encodings of our own output byte-identical, ` +
        `${counts.byteIdentical} originals byte-identical to their re-encoding`,
    );
  });
});
