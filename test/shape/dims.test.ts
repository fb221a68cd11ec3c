import { describe, expect, test } from 'vitest';
import {
  Sym,
  addDims,
  bindDim,
  broadcastDim,
  broadcastShapes,
  ceilDivDim,
  divDimsExact,
  evaluateParam,
  floorDivDim,
  isPlaceholder,
  mulDims,
  parseParam,
  productOf,
  subDims,
  type SymDim,
} from '../../src/shape/dims.js';

const s = (name: string) => Sym.named(name);
const text = (d: SymDim) => (d instanceof Sym ? d.toParam() : d);

describe('symbolic dims', () => {
  test('arithmetic keeps polynomials canonical', () => {
    expect(text(mulDims(s('sequence'), s('batch')))).toBe('batch*sequence');
    expect(text(mulDims(mulDims(s('batch'), 4), 16))).toBe('64*batch');
    expect(text(addDims(s('past'), s('sequence')))).toBe('past+sequence');
    expect(text(subDims(s('sequence'), 1))).toBe('sequence-1');
    expect(subDims(s('n'), s('n'))).toBe(0);
    expect(addDims(subDims(s('n'), 3), 3)).toEqual(s('n'));
    expect(text(mulDims(addDims(s('a'), 1), addDims(s('a'), 1)))).toBe('a*a+2*a+1');
    expect(mulDims(s('a'), undefined)).toBeUndefined();
  });

  test('exact division only', () => {
    expect(divDimsExact(mulDims(s('batch'), s('sequence')), s('batch'))).toEqual(s('sequence'));
    expect(text(divDimsExact(mulDims(s('batch'), 768), 12))).toBe('64*batch');
    expect(divDimsExact(mulDims(s('batch'), 6), 4)).toBeUndefined();
    expect(divDimsExact(s('a'), s('b'))).toBeUndefined();
    expect(divDimsExact(addDims(s('a'), s('b')), addDims(s('b'), s('a')))).toBe(1);
    expect(divDimsExact(7, 2)).toBeUndefined();
    expect(floorDivDim(7, 2)).toBe(3);
    expect(ceilDivDim(7, 2)).toBe(4);
    expect(floorDivDim(addDims(s('h'), 1), 2)).toBeUndefined();
    expect(productOf([s('b'), 2, s('s')])).toEqual(mulDims(mulDims(s('b'), s('s')), 2));
    expect(productOf([])).toBe(1);
  });

  test('dim_param text parses into the same polynomials', () => {
    expect(parseParam('batch*sequence')).toEqual(mulDims(s('sequence'), s('batch')));
    expect(parseParam('sequence * batch')).toEqual(mulDims(s('batch'), s('sequence')));
    expect(parseParam('past + 1')).toEqual(addDims(s('past'), 1));
    expect(parseParam('2*n-1')).toEqual(subDims(mulDims(s('n'), 2), 1));
    expect(parseParam('7')).toBe(7);
    // Anything else is one opaque symbol, written back exactly as it came.
    const odd = parseParam('floor(s0/2)');
    expect(odd instanceof Sym && odd.toParam()).toBe('floor(s0/2)');
    expect(text(mulDims(odd, 2))).toBe('2*(floor(s0/2))');
  });

  test('binding pins symbols by name', () => {
    const binding = new Map([['batch', 2]]);
    expect(bindDim(mulDims(s('batch'), s('sequence')), binding)).toEqual(mulDims(s('sequence'), 2));
    expect(bindDim(addDims(s('batch'), 3), binding)).toBe(5);
    expect(bindDim(s('other'), binding)).toEqual(s('other'));
  });

  test('placeholders are the unk__N names', () => {
    expect(isPlaceholder(s('unk__12'))).toBe(true);
    expect(isPlaceholder(s('batch'))).toBe(false);
    expect(isPlaceholder(mulDims(s('unk__1'), 2))).toBe(false);
    expect(isPlaceholder(3)).toBe(false);
  });

  test('broadcasting assumes a valid model', () => {
    expect(broadcastDim(1, s('seq'))).toEqual(s('seq'));
    expect(broadcastDim(s('seq'), 4)).toBe(4);
    expect(broadcastDim(undefined, s('seq'))).toEqual(s('seq'));
    expect(broadcastDim(undefined, 1)).toBeUndefined();
    expect(broadcastDim(s('a'), s('b'))).toBeUndefined();
    expect(broadcastDim(3, 4)).toBe('conflict');
    expect(
      broadcastShapes([
        [s('b'), 1, 5],
        [4, 1],
      ]),
    ).toEqual([s('b'), 4, 5]);
    expect(
      broadcastShapes([
        [2, 3],
        [4, 3],
      ]),
    ).toBeUndefined();
    expect(broadcastShapes([[2], undefined])).toBeUndefined();
    expect(broadcastShapes([[], []])).toEqual([]);
  });
});

describe('evaluateParam', () => {
  test("evaluates the arithmetic dim names torch's dynamo exporter writes, and nothing else", () => {
    const sizes = { batch: 2, encoder_sequence: 16, sequence: 3 };
    expect(evaluateParam('((encoder_sequence*batch)//batch)', sizes)).toBe(16);
    expect(evaluateParam('(sequence - 1)//2 + 1', sizes)).toBe(2);
    expect(evaluateParam('2*sequence + batch', sizes)).toBe(8);
    for (const text of ['unbound', 'batch*', 'batch)', '(batch', 'sequence//0', 'batch % 2'])
      expect(evaluateParam(text, sizes), text).toBeUndefined();
  });
});
