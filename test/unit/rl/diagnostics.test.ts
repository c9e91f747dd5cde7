import { fixture, inputs, expectClose } from './reference-fixture';
import { advantageStats, explainedVariance, fractionUniformGroups, meanEntropy, ratioStats } from '../../../rl';

const { mask } = inputs;

describe('diagnostics against the Python reference', () => {
  test('clip fraction (0.2 / 0.28) and the k1 / k3 approximate KL', () => {
    const d = fixture.diagnostics;
    const s = ratioStats(inputs.logProbs, inputs.oldLogProbs, mask, 0.2, 0.28);
    expectClose(s.clipFraction, d.clipFraction);
    expectClose(s.approxKlK1, d.approxKlK1, 1e-12, 1e-9);
    expectClose(s.approxKlK3, d.approxKlK3, 1e-12, 1e-9);
  });

  test('explained variance and advantage statistics over action tokens', () => {
    expectClose(explainedVariance(inputs.values, inputs.returns, mask), fixture.diagnostics.explainedVariance, 1e-12, 1e-9);
    const stats = advantageStats(inputs.advantages, mask);
    const ref = fixture.diagnostics.advantageStats;
    expectClose([stats.mean, stats.std, stats.min, stats.max, stats.fractionZero], [ref.mean, ref.std, ref.min, ref.max, ref.fractionZero], 1e-12, 1e-9);
  });
});

describe('diagnostics by hand', () => {
  test('explained variance: 1 for a perfect critic, 0 for the mean, masked tokens ignored', () => {
    const m = [[1, 1, 0, 1]];
    expect(explainedVariance([[0, 1, 99, 2]], [[0, 1, -5, 2]], m)).toBeCloseTo(1, 12);
    expect(explainedVariance([[1, 1, 99, 1]], [[0, 1, -5, 2]], m)).toBeCloseTo(0, 12);
  });

  test('entropy mean, zero-advantage share, uniform groups', () => {
    expect(meanEntropy([[1, 2, 100], [3, 0, 0]], [[1, 1, 0], [1, 0, 0]])).toBe(2);
    expect(advantageStats([[0, 1, 5], [0, -1, 0]], [[1, 1, 0], [1, 1, 0]]).fractionZero).toBe(0.5);
    expect(fractionUniformGroups([1, 1, 0, 1, 0.5], ['a', 'a', 'b', 'b', 'c'])).toBeCloseTo(2 / 3, 12);
  });
});
