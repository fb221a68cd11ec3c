import { describe, expect, it } from 'vitest';
import { Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import {
  all,
  ConstantView,
  hasElemType,
  hasRank,
  hasStaticShape,
  near,
  oneD,
  sameShape,
  scalar,
  scalarNear,
  valuesEqual,
} from '../../src/pattern/index.js';
import { DataType } from '../../src/tensor/dtype.js';

const constant = (values: number[], dims: number[], dataType: number = DataType.FLOAT) =>
  new ConstantView(new Value('c'), Tensor.fromArray('c', dataType, dims, values));
const typed = (shape: (number | string)[] | undefined, elem: number = DataType.FLOAT) =>
  new Value('v', shape ? tensorType(elem, shape) : undefined);

describe('constant predicates', () => {
  it('scalarNear: relative tolerance for large targets, absolute for small ones', () => {
    expect(near(1000.005, 1000)).toBe(true);
    expect(near(0.00002, 0)).toBe(false);
    expect(scalarNear(0.5)(constant([0.5], [1]))).toBe(true);
    expect(scalarNear(0.5, 1e-3)(constant([0.5004], []))).toBe(true);
    expect(scalarNear(0.5)(constant([0.6], []))).toBe('constant is 0.6, expected 0.5');
    expect(scalarNear(0.5)(constant([0.5, 0.5], [2]))).toBe('constant is a tensor [2], expected the scalar 0.5');
  });

  it('scalar, oneD and valuesEqual', () => {
    expect(scalar(constant([3], [1, 1]))).toBe(true);
    expect(scalar(constant([1, 2], [2]))).toBe('constant is a tensor [2], expected a scalar');
    expect(oneD()(constant([1, 2], [2]))).toBe(true);
    expect(oneD(3)(constant([1, 2], [2]))).toBe('constant has dims [2], expected 1-D of length 3');
    expect(oneD()(constant([1, 2], [1, 2]))).toBe('constant has dims [1,2], expected 1-D');
    expect(valuesEqual([-1])(constant([-1], [1], DataType.INT64))).toBe(true);
    expect(valuesEqual([-1])(constant([2], [1], DataType.INT64))).toBe('constant is [2], expected [-1]');
  });
});

describe('value predicates', () => {
  it('hasRank, hasElemType, hasStaticShape', () => {
    expect(hasRank(2)(typed([2, 'n']))).toBe(true);
    expect(hasRank(3)(typed(undefined))).toBe("'v' has unknown rank, expected 3");
    expect(hasElemType(DataType.FLOAT, DataType.FLOAT16)(typed([1], DataType.FLOAT16))).toBe(true);
    expect(hasElemType(DataType.FLOAT)(typed([1], DataType.INT64))).toBe("'v' is int64, expected float");
    expect(hasStaticShape(typed([2, 3]))).toBe(true);
    expect(hasStaticShape(typed([2, 'n']))).toBe("'v' has no static shape");
  });

  it('sameShape compares known dims, symbols by name', () => {
    expect(sameShape(typed(['b', 's', 768]), typed(['b', 's', 768]))).toBe(true);
    expect(sameShape(typed(['b', 's', 768]), typed(['b', 't', 768]))).toBe(false);
    expect(sameShape(typed([2, 3]), typed(undefined))).toBe(false);
  });

  it('all: the first failing reason', () => {
    const rank2Float = all(hasRank(2), hasElemType(DataType.FLOAT));
    expect(rank2Float(typed([2, 3]))).toBe(true);
    expect(rank2Float(typed([2, 3], DataType.INT32))).toBe("'v' is int32, expected float");
    expect(rank2Float(typed([2]))).toBe("'v' has rank 1, expected 2");
  });
});
