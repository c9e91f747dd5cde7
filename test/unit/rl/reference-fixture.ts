/** The committed output of test/fixtures/rl/reference.py, plus comparison helpers for the rl/ tests. */
import * as tf from '@tensorflow/tfjs';
import reference from '../../fixtures/rl/reference.json';

export const fixture = reference;
export const inputs = reference.inputs;

/** |actual − expected| ≤ atol + rtol·|expected|, element by element, with the failing index in the message. */
export function expectClose(actual: unknown, expected: unknown, atol = 1e-9, rtol = 1e-9, path = ''): void {
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual)).toBe(true);
    const a = actual as unknown[];
    expect({ path, length: a.length }).toEqual({ path, length: expected.length });
    expected.forEach((e, k) => expectClose(a[k], e, atol, rtol, `${path}[${k}]`));
    return;
  }
  const a = actual as number;
  const e = expected as number;
  const ok = Math.abs(a - e) <= atol + rtol * Math.abs(e);
  if (!ok) throw new Error(`${path}: got ${a}, expected ${e}`);
}

/** float32 tolerance for values that went through tfjs. */
export const F32 = { atol: 1e-5, rtol: 1e-4 };

export function t2(x: number[][]): tf.Tensor2D {
  return tf.tensor2d(x);
}
