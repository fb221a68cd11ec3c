// ONNX's backend test data, installed by the Debian/Ubuntu package libonnx-testdata (.ci/run installs it when
// missing). Only the conformance suite reads it: `npm test` passes without it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const TESTDATA_DIR = process.env.ONNX_TESTDATA_DIR ?? '/usr/share/libonnx-testdata/data';

/** The data folder; throws (so the suite fails rather than skips) when the package is missing. */
export function testdataDir(): string {
  if (!existsSync(TESTDATA_DIR)) {
    throw new Error(
      `ONNX backend test data not found at ${TESTDATA_DIR}: install it with \`sudo apt-get install -y libonnx-testdata\` ` +
        '(Debian/Ubuntu; .ci/run does this), or point ONNX_TESTDATA_DIR at the onnx/backend/test/data folder of an ' +
        'ONNX 1.12 source checkout, the release whose counts the suite checks (`git clone --depth 1 -b v1.12.0 https://github.com/onnx/onnx`)',
    );
  }
  return TESTDATA_DIR;
}

/** Every model.onnx under the data folder, sorted, as paths relative to it (e.g. node/test_abs/model.onnx). */
export function listModels(): string[] {
  const root = testdataDir();
  const found: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'model.onnx') found.push(path);
    }
  };
  walk('');
  return found.sort();
}

/** A test case with data: its model and the inputs and outputs of test_data_set_0. */
export interface NodeTestCase {
  name: string;
  model: string;
  inputs: string[];
  outputs: string[];
}

/** The cases of one folder of the data (node, pytorch-converted, ...) that have test_data_set_0, sorted by name. */
function casesIn(folder: string): NodeTestCase[] {
  const root = join(testdataDir(), folder);
  const cases: NodeTestCase[] = [];
  for (const name of readdirSync(root).sort()) {
    const dataSet = join(root, name, 'test_data_set_0');
    if (!existsSync(join(root, name, 'model.onnx')) || !existsSync(dataSet)) continue;
    const numbered = (prefix: string) =>
      readdirSync(dataSet)
        .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
        .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)))
        .map((f) => join(dataSet, f));
    cases.push({
      name,
      model: join(root, name, 'model.onnx'),
      inputs: numbered('input_'),
      outputs: numbered('output_'),
    });
  }
  return cases;
}

/** The node tests (node/<name>/model.onnx with test_data_set_0), named by their folder. */
export function listNodeTests(): NodeTestCase[] {
  return casesIn('node');
}

/** Every case with test_data_set_0 in every folder of the data, named folder/name (e.g. node/test_abs). */
export function listDataTests(): NodeTestCase[] {
  const folders = readdirSync(testdataDir(), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return folders.flatMap((folder) => casesIn(folder).map((c) => ({ ...c, name: `${folder}/${c.name}` })));
}
