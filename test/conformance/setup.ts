// Runs once before the conformance suite: stop at once, with how to get the data, when it cannot be found.
import { testdataDir } from './testdata.js';

export default function locateTestdata(): void {
  testdataDir();
}
