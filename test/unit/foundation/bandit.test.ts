import { Rng } from '../../../common/random';
import { BanditEnvironment, groupAdvantages, SoftmaxPolicy } from '../../../envs/bandit';

const env = new BanditEnvironment({ arms: 8, tasksPerSplit: 16, worldSeed: 7 });

/** The same loop the activities run, in-process: sample a group per task, score, advantage, update. */
function train(steps: number, learningRate: number, algorithm: 'grpo' | 'rloo' | 'reinforce') {
  let policy = new SoftmaxPolicy(8);
  const rewards: number[] = [];
  for (let step = 0; step < steps; step++) {
    const rng = new Rng(1).fork(step);
    const tasks = rng.sample(env.tasks('train'), 8);
    const groups = tasks.map((task) =>
      Array.from({ length: 8 }, (_, sample) => {
        const arm = policy.sample(task.id, rng);
        const episode = env.createEpisode(task.id, rng.int(0, 1e9));
        episode.step(`pull ${arm}`);
        return { taskId: task.id, arm, reward: episode.score().reward, sample };
      }),
    );
    const advantages = groupAdvantages(groups.map((g) => g.map((s) => s.reward)), algorithm);
    rewards.push(groups.flat().reduce((s, x) => s + x.reward, 0) / 64);
    policy = policy.update(groups.flatMap((g, i) => g.map((s, j) => ({ ...s, advantage: advantages[i][j] }))), learningRate);
  }
  return { policy, rewards };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('bandit environment', () => {
  it('is reproducible from its seeds and verifies against the hidden best arm', () => {
    const again = new BanditEnvironment({ arms: 8, tasksPerSplit: 16, worldSeed: 7 });
    expect(again.tasks('train')).toEqual(env.tasks('train'));
    const task = env.tasks('train')[0];
    const best = env.createEpisode(task.id, 3);
    best.step(`pull ${task.bestArm}`);
    expect(best.score().success).toBe(true);
    const sameSeed = env.createEpisode(task.id, 3);
    sameSeed.step(`pull ${task.bestArm}`);
    expect(sameSeed.score()).toEqual(best.score());
  });

  it('answers a malformed action with an error observation, reward 0', () => {
    const episode = env.createEpisode(env.tasks('dev')[2].id, 1);
    const result = episode.step('open the pod bay doors');
    expect(result).toMatchObject({ done: true, error: true });
    expect(episode.score()).toMatchObject({ reward: 0, success: false });
  });

  it('rejects unknown splits and tasks where they enter', () => {
    expect(() => env.tasks('nope')).toThrow(/unknown split/);
    expect(() => env.task('bandit/train/9999')).toThrow(/unknown task/);
  });
});

describe('softmax policy', () => {
  it.each(['grpo', 'rloo', 'reinforce'] as const)('learns with %s: reward rises', (algorithm) => {
    const { rewards } = train(24, 2, algorithm);
    expect(mean(rewards.slice(-5))).toBeGreaterThan(mean(rewards.slice(0, 5)) + 0.15);
  });

  it('round-trips through JSON and moves probability toward a positive-advantage arm', () => {
    const policy = new SoftmaxPolicy(4).update([{ taskId: 't', arm: 2, advantage: 1 }], 1);
    const copy = SoftmaxPolicy.fromJSON(policy.toJSON());
    expect(copy.probs('t')).toEqual(policy.probs('t'));
    expect(policy.probs('t')[2]).toBeGreaterThan(0.25);
    expect(new SoftmaxPolicy(4).kl(policy, 't')).toBeGreaterThan(0);
  });
});

describe('group advantages', () => {
  it('are zero-mean per group for grpo and rloo, zero for flat groups', () => {
    const [a, flat] = groupAdvantages([[1, 0, 0, 1], [1, 1, 1, 1]], 'grpo');
    expect(a.reduce((s, x) => s + x, 0)).toBeCloseTo(0);
    expect(flat).toEqual([0, 0, 0, 0]);
    const [r] = groupAdvantages([[1, 0, 0]], 'rloo');
    expect(r[0]).toBeCloseTo(1);
    expect(r[1]).toBeCloseTo(-0.5);
  });
});
