import fc from 'fast-check';
import { fixture, expectClose } from './reference-fixture';
import {
  SaltTrajectory,
  gigpoStepAdvantages,
  grpoAdvantages,
  saltStepAdvantages,
  stepLevelBatchAdvantages,
  stepLevelTokenAdvantages,
  stepsToTokens,
  transitionKey,
} from '../../../rl';

/** The fixture's group, with each step given a 2-token span after a 1-token prompt and a 1-token observation. */
function fixtureGroup(): SaltTrajectory[] {
  return fixture.salt.group.map((traj) => ({
    advantage: traj.advantage,
    reward: traj.reward,
    steps: traj.steps.map((s, t) => ({ ...s, tokenStart: 1 + 3 * t, tokenEnd: 3 + 3 * t })),
  }));
}

describe('SALT against the Python reference', () => {
  test('transition nodes average the trajectory advantages (shared login step -> 0, loops count twice)', () => {
    expectClose(saltStepAdvantages(fixtureGroup()), fixture.salt.salt, 1e-12);
  });

  test('GiGPO anchor-state option, mean_norm and mean_std_norm', () => {
    expectClose(gigpoStepAdvantages(fixtureGroup(), { gamma: 0.95, stepWeight: 1 }), fixture.salt['gigpo_gamma0.95_w1'], 1e-12);
    expectClose(
      gigpoStepAdvantages(fixtureGroup(), { gamma: 0.9, stepWeight: 0.5, normalizeByStd: true }),
      fixture.salt['gigpo_gamma0.9_w0.5_std'],
      1e-9,
    );
  });

  test('per-token output covers each step span, masked tool tokens inside a span stay 0', () => {
    const group = fixtureGroup().slice(0, 2);
    const perStep = saltStepAdvantages(group);
    const mask = [
      [0, 1, 1, 0, 1, 1, 0, 1, 0, 0],
      [0, 1, 1, 0, 1, 1, 0, 1, 1, 0],
    ];
    const tokens = stepsToTokens(group, perStep, [10, 10], mask);
    const [a, b] = [perStep[0], perStep[1]];
    expectClose(tokens, [
      [0, a[0], a[0], 0, a[1], a[1], 0, a[2], 0, 0],
      [0, b[0], b[0], 0, b[1], b[1], 0, b[2], b[2], 0],
    ]);
    expect(stepLevelTokenAdvantages(group, [10, 10], mask)).toEqual(tokens);
  });

  test('a batch of several tasks is merged within each task only', () => {
    const step = { state: 's', action: 'a', nextState: 't', tokenStart: 0, tokenEnd: 1 };
    const batch = [
      { group: 'task1', advantage: 1, steps: [step] },
      { group: 'task2', advantage: 5, steps: [step] },
      { group: 'task1', advantage: -3, steps: [step] },
    ];
    expect(stepLevelBatchAdvantages(batch, [[1, 0], [1, 0], [1, 0]])).toEqual([[-1, 0], [5, 0], [-1, 0]]);
  });

  test('the key is the exact triple and cannot collide through separators', () => {
    expect(transitionKey({ state: 'a|b', action: 'c', nextState: 'd' })).not.toBe(
      transitionKey({ state: 'a', action: 'b|c', nextState: 'd' }),
    );
    expect(() => stepsToTokens(fixtureGroup(), saltStepAdvantages(fixtureGroup()), [4, 4, 4, 4])).toThrow(/outside row/);
  });
});

// Random groups over a small alphabet so transitions repeat often.
const stepArb = fc.record({
  state: fc.constantFrom('s0', 's1', 's2'),
  action: fc.constantFrom('a', 'b'),
  nextState: fc.constantFrom('s1', 's2', 'end'),
});
const groupArb = fc.array(
  fc.record({
    advantage: fc.double({ min: -3, max: 3, noNaN: true }),
    steps: fc.array(stepArb, { minLength: 1, maxLength: 5 }),
  }),
  { minLength: 1, maxLength: 6 },
);
const withSpans = (g: { advantage: number; steps: { state: string; action: string; nextState: string }[] }[]) =>
  g.map((t) => ({ advantage: t.advantage, steps: t.steps.map((s, k) => ({ ...s, tokenStart: k, tokenEnd: k + 1 })) }));

describe('SALT properties', () => {
  test('a group of identical trajectories with GRPO advantages gives all zeros, whatever the rewards', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 8 }),
        (steps, rewards) => {
          const advantages = grpoAdvantages(rewards, rewards.map(() => 'task'));
          const group = withSpans(advantages.map((advantage) => ({ advantage, steps })));
          for (const row of saltStepAdvantages(group)) for (const a of row) expect(Math.abs(a)).toBeLessThan(1e-9);
        },
      ),
    );
  });

  test('steps seen once keep their trajectory advantage; every node averages its occurrences', () => {
    fc.assert(
      fc.property(groupArb, (raw) => {
        const group = withSpans(raw);
        const out = saltStepAdvantages(group);
        const occurrences = new Map<string, number[]>();
        group.forEach((t) => t.steps.forEach((s) => {
          const key = transitionKey(s);
          occurrences.set(key, [...(occurrences.get(key) ?? []), t.advantage]);
        }));
        group.forEach((t, i) =>
          t.steps.forEach((s, k) => {
            const advs = occurrences.get(transitionKey(s)) as number[];
            if (advs.length === 1) expect(out[i][k]).toBe(t.advantage);
            else expect(out[i][k]).toBeCloseTo(advs.reduce((a, v) => a + v, 0) / advs.length, 9);
          }),
        );
      }),
    );
  });

  test('GiGPO: an anchor group whose step returns are equal adds exactly 0, with or without the std', () => {
    // Three same-length successes: every anchor group holds equal returns (0.95 at P, 1 at X), whose float mean
    // is an ulp off; the trainer keeps a flat group's trajectory only where A^S is not 0.
    const step = (state: string, k: number) => ({ state, action: 'a', nextState: 'x', tokenStart: k, tokenEnd: k + 1 });
    const group = [0, 1, 2].map(() => ({ advantage: 0, reward: 1, steps: [step('P', 0), step('X', 1)] }));
    for (const normalizeByStd of [false, true]) expect(gigpoStepAdvantages(group, { normalizeByStd })).toEqual([[0, 0], [0, 0], [0, 0]]);
  });

  test('SALT preserves the advantage mass of the group', () => {
    // averaging within nodes moves credit between occurrences but never creates or destroys it
    fc.assert(
      fc.property(groupArb, (raw) => {
        const group = withSpans(raw);
        const before = group.reduce((a, t) => a + t.advantage * t.steps.length, 0);
        const after = saltStepAdvantages(group).flat().reduce((a, v) => a + v, 0);
        expect(after).toBeCloseTo(before, 8);
      }),
    );
  });
});
