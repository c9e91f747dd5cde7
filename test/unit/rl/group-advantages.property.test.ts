import fc from 'fast-check';
import { drGrpoAdvantages, grpoAdvantages, indicesByGroup, rlooAdvantages, sampleStd } from '../../../rl';

const batchArb = fc
  .array(fc.record({ score: fc.double({ min: -5, max: 5, noNaN: true }), group: fc.integer({ min: 0, max: 4 }) }), {
    minLength: 1,
    maxLength: 24,
  })
  .map((rows) => ({ scores: rows.map((r) => r.score), groups: rows.map((r) => r.group) }));

const groupSums = (adv: number[], groups: number[]) =>
  [...indicesByGroup(groups).values()].filter((m) => m.length > 1).map((m) => m.reduce((a, i) => a + adv[i], 0));

describe('group advantage properties', () => {
  test('GRPO, Dr.GRPO and RLOO advantages have zero mean in every group of two or more', () => {
    fc.assert(
      fc.property(batchArb, ({ scores, groups }) => {
        for (const adv of [grpoAdvantages(scores, groups), drGrpoAdvantages(scores, groups), rlooAdvantages(scores, groups)]) {
          for (const s of groupSums(adv, groups)) expect(Math.abs(s)).toBeLessThan(1e-6);
        }
      }),
    );
  });

  test('GRPO advantages have (near) unit sample std in groups with spread', () => {
    fc.assert(
      fc.property(batchArb, ({ scores, groups }) => {
        const adv = grpoAdvantages(scores, groups);
        for (const members of indicesByGroup(groups).values()) {
          const spread = sampleStd(members.map((i) => scores[i]));
          if (members.length > 1 && spread > 1e-3) expect(sampleStd(members.map((i) => adv[i]))).toBeCloseTo(1, 2);
        }
      }),
    );
  });

  test('adding a constant to every score of a group leaves its advantages unchanged', () => {
    fc.assert(
      fc.property(batchArb, fc.double({ min: -10, max: 10, noNaN: true }), ({ scores, groups }, shift) => {
        const multi = new Set([...indicesByGroup(groups)].filter(([, m]) => m.length > 1).map(([g]) => g));
        const shifted = scores.map((s, i) => (multi.has(groups[i]) ? s + shift : s));
        const a = rlooAdvantages(scores, groups);
        const b = rlooAdvantages(shifted, groups);
        a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 6));
      }),
    );
  });
});
