import { SAGE_DEFAULTS, sageRewards, type SageEpisode } from '../../../rl';

const win = (skillCalls: SageEpisode['skillCalls'] = []): SageEpisode => ({ reward: 1, success: true, skillCalls });
const loss = (skillCalls: SageEpisode['skillCalls'] = []): SageEpisode => ({ reward: 0, success: false, skillCalls });
const totals = (chain: SageEpisode[], weights = SAGE_DEFAULTS) => sageRewards(chain, weights).map((r) => r.total);

describe('SAGE skill-integrated reward on hand-computed chains', () => {
  test('defaults: chains of 2, unit weights', () => {
    expect(SAGE_DEFAULTS).toEqual({ chainLength: 2, skillGeneration: 1, skillUse: 1 });
  });

  test('task 1 writes a skill, task 2 uses it, both succeed: 1+1 and 1+1', () => {
    // Task 1 calls its own fresh skill (origin 0): no use credit, it is not a library skill.
    const chain = [win([{ origin: 0, ok: true }]), win([{ origin: 0, ok: true }])];
    expect(sageRewards(chain)).toEqual([
      { outcome: 1, generation: 1, use: 0, total: 2 },
      { outcome: 1, generation: 0, use: 1, total: 2 },
    ]);
  });

  test('task 2 fails: no generation credit for task 1, no use credit for task 2', () => {
    expect(totals([win([{ origin: 0, ok: true }]), loss([{ origin: 0, ok: true }])])).toEqual([1, 0]);
  });

  test('task 1 fails but its skill helps task 2: only task 2 gets credit', () => {
    expect(totals([loss([{ origin: 0, ok: true }]), win([{ origin: 0, ok: true }])])).toEqual([0, 2]);
  });

  test('a failed skill call earns nothing, a successful one in the same task does', () => {
    expect(totals([win(), win([{ origin: 0, ok: false }])])).toEqual([1, 1]);
    expect(totals([win(), win([{ origin: 0, ok: false }, { origin: 0, ok: true }])])).toEqual([2, 2]);
  });

  test('task 2 solves it without skills, or with a skill it wrote itself: plain outcomes', () => {
    expect(totals([win(), win()])).toEqual([1, 1]);
    expect(totals([win(), win([{ origin: 1, ok: true }])])).toEqual([1, 1]);
    // A call to a skill that does not exist (no origin) credits no one.
    expect(totals([win(), win([{ ok: false }])])).toEqual([1, 1]);
  });

  test('weights scale each part: w_gen 0.5, w_use 0.25', () => {
    const weights = { chainLength: 2, skillGeneration: 0.5, skillUse: 0.25 };
    expect(totals([win([{ origin: 0, ok: true }]), win([{ origin: 0, ok: true }])], weights)).toEqual([1.5, 1.25]);
  });

  test('a chain of 3: generation credit goes to the task right before the use only', () => {
    // Task 3 uses task 1's skill (origin 0): use credit for task 3; no generation credit (task 2 wrote nothing it used).
    // Task 2 uses task 1's skill: task 1 gets generation credit and task 2 use credit.
    const chain = [win(), win([{ origin: 0, ok: true }]), win([{ origin: 0, ok: true }])];
    expect(totals(chain)).toEqual([2, 2, 2]);
    const noMiddleUse = [win(), win(), win([{ origin: 0, ok: true }])];
    expect(totals(noMiddleUse)).toEqual([1, 1, 2]);
    const middleWrites = [win(), win(), win([{ origin: 1, ok: true }])];
    expect(totals(middleWrites)).toEqual([1, 2, 2]);
  });

  test('partial outcome rewards pass through unchanged', () => {
    const chain: SageEpisode[] = [{ reward: 0.5, success: false, skillCalls: [] }, win([{ origin: 0, ok: true }])];
    expect(totals(chain)).toEqual([0.5, 2]);
  });

  test('an empty chain has no rewards; bad weights and impossible origins are refused', () => {
    expect(sageRewards([])).toEqual([]);
    expect(() => sageRewards([win()], { skillGeneration: -1, skillUse: 1 })).toThrow(/skillGeneration/);
    expect(() => sageRewards([win()], { skillGeneration: 1, skillUse: Number.NaN })).toThrow(/skillUse/);
    expect(() => sageRewards([win([{ origin: 1, ok: true }])])).toThrow(/position 1/);
    expect(() => sageRewards([win([{ origin: 0.5, ok: true }])])).toThrow(/position 0.5/);
  });
});
