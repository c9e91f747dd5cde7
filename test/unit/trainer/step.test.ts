/**
 * The shared step (trainer/step.ts) over scripted activities: what each phase receives (the live KL
 * coefficient, the whole batch), DAPO's refill rounds, and the adaptive KL coefficient handed to the next step.
 */
import type {
  ArtifactRef,
  CheckRewardsInput,
  RecordStepInput,
  ResumePoint,
  RolloutShardInput,
  SelectTasksInput,
  StepActivities,
} from '../../../activities/contract';
import { parseRunConfig, type RunConfigInput } from '../../../config/run-config';
import { updateKlController } from '../../../rl/kl-controller';
import { runStep } from '../../../trainer/step';

const ref = (key: string): ArtifactRef => ({ key, sha256: key });

/**
 * Activities over a world of 12 tasks `t0`..`t11` in which the tasks listed in `flat` give every rollout the
 * same reward; selectTasks draws the first `count` tasks not excluded, and each call is logged.
 */
function scripted(flat: Set<string>, measuredKl = { reward: 0.3, loss: 0.2 }) {
  const calls: { name: string; input: unknown }[] = [];
  const groups = new Map<number, string>(); // group -> task, over all rounds
  const log = (name: string, input: unknown) => calls.push({ name, input: structuredClone(input) });
  const activities: StepActivities = {
    async selectTasks(input: SelectTasksInput) {
      log('selectTasks', input);
      const pool = Array.from({ length: 12 }, (_, i) => `t${i}`).filter((t) => !input.exclude.includes(t));
      return { taskIds: pool.slice(0, input.count), sampler: input.round === 0 ? ref(`sampler-${input.step}`) : input.sampler };
    },
    async rolloutBatch(input: RolloutShardInput) {
      log('rolloutBatch', input);
      input.taskIds.forEach((task, i) => groups.set(input.firstGroup + i, task));
      return { rollouts: ref(`shard-${input.shard}`), trajectories: input.taskIds.length * 2 };
    },
    async checkRewards(input: CheckRewardsInput) {
      log('checkRewards', input);
      const drawn = [...groups.values()];
      return {
        rewards: ref(`rewards-${input.round}`),
        meanReward: 0.5,
        successRate: 0.5,
        groups: drawn.length,
        informativeGroups: drawn.filter((t) => !flat.has(t)).length,
      };
    },
    async scoreBatch(input) {
      log('scoreBatch', input);
      return { scores: ref('scores'), entropy: 1 };
    },
    async computeAdvantages(input) {
      log('computeAdvantages', input);
      return { advantages: ref('advantages'), flatGroups: [...groups.values()].filter((t) => flat.has(t)).length, meanKl: measuredKl.reward };
    },
    async updatePolicy(input) {
      log('updatePolicy', input);
      const metrics = { policyLoss: 0, clipFraction: 0, ppoKl: 0.01, refKl: measuredKl.loss, entropy: 1, gradNorm: 1, valueLoss: 0, optimizerSteps: 1, trainedTokens: 10, backend: 'test' };
      return { checkpoint: { ...ref('ckpt'), version: input.policy.version + 1, step: input.step + 1 }, kl: 0.01, metrics };
    },
    async syncWeights(input) {
      log('syncWeights', input);
      return { ...ref('policy'), version: input.checkpoint.version };
    },
    async recordStep(input: RecordStepInput) {
      log('recordStep', input);
    },
  };
  const inputsOf = <T>(name: string) => calls.filter((c) => c.name === name).map((c) => c.input as T);
  return { activities, calls, inputsOf };
}

const config = (overrides: Partial<RunConfigInput> = {}) =>
  parseRunConfig({ runId: 'r', env: 'apps', algorithm: 'grpo', steps: 5, tasksPerStep: 4, groupSize: 2, rolloutShards: 2, ...overrides });
const start = (klCoef = 0.05): ResumePoint => ({ step: 3, policy: { ...ref('p3'), version: 3 }, learningRate: 1e-3, klCoef });

describe('runStep', () => {
  it('runs the phases in order, each with the whole batch and the live KL coefficient, and hands the next step its state', async () => {
    const { activities, calls, inputsOf } = scripted(new Set());
    const from = { ...start(0.07), curriculum: { sampler: ref('sampler-2'), outcomes: ref('rewards-2') } };
    const { metrics, next } = await runStep(activities, config(), from);

    expect(calls.map((c) => c.name)).toEqual([
      'selectTasks', 'rolloutBatch', 'rolloutBatch', 'checkRewards', 'scoreBatch', 'computeAdvantages', 'updatePolicy', 'syncWeights', 'recordStep',
    ]);
    expect(inputsOf<SelectTasksInput>('selectTasks')[0]).toMatchObject({ round: 0, count: 4, exclude: [], sampler: ref('sampler-2'), outcomes: ref('rewards-2') });
    expect(inputsOf<{ klCoef: number }>('computeAdvantages')[0].klCoef).toBe(0.07);
    expect(inputsOf<{ klCoef: number }>('updatePolicy')[0].klCoef).toBe(0.07);
    expect(metrics).toMatchObject({ klCoef: 0.07, groupsDrawn: 4, refillRounds: 0, informativeGroups: 4, update: { refKl: 0.2, backend: 'test' } });
    expect(next).toEqual({ step: 4, policy: { ...ref('policy'), version: 4 }, learningRate: 1e-3, klCoef: 0.07, curriculum: { sampler: ref('sampler-3'), outcomes: ref('rewards-0') } });
    expect(inputsOf<RecordStepInput>('recordStep')[0].resume).toEqual(next);
  });

  it('tells syncWeights the versions running evaluations read, so their LLM graphs are kept; the next step starts without them', async () => {
    const { activities, inputsOf } = scripted(new Set());
    const { next } = await runStep(activities, config(), { ...start(), evaluating: [1, 3] });
    expect(inputsOf<{ evaluating?: number[] }>('syncWeights')[0].evaluating).toEqual([1, 3]);
    expect(next.evaluating).toBeUndefined(); // the workflow knows which evaluations still run
    await runStep(activities, config(), start());
    expect(inputsOf<{ evaluating?: number[] }>('syncWeights')[1]).not.toHaveProperty('evaluating');
  });

  it('without refill, flat groups leave the batch short', async () => {
    const { activities, inputsOf } = scripted(new Set(['t0', 't1', 't2']));
    const { metrics } = await runStep(activities, config(), start());
    expect(inputsOf('selectTasks')).toHaveLength(1);
    expect(metrics).toMatchObject({ groupsDrawn: 4, refillRounds: 0, informativeGroups: 1 });
  });

  it('with refill, draws tasks not yet drawn for the missing groups, round after round, numbering groups and shards on', async () => {
    // Round 0 draws t0..t3 (1 informative), round 1 the 3 missing: t4..t6 (t4 flat), round 2 the last one: t7.
    const { activities, inputsOf } = scripted(new Set(['t0', 't1', 't2', 't4']));
    const { metrics } = await runStep(activities, config({ dynamicSampling: { refill: true } }), start());

    expect(inputsOf<SelectTasksInput>('selectTasks').map(({ round, count, exclude, sampler }) => ({ round, count, exclude, sampler }))).toEqual([
      { round: 0, count: 4, exclude: [], sampler: undefined },
      { round: 1, count: 3, exclude: ['t0', 't1', 't2', 't3'], sampler: ref('sampler-3') },
      { round: 2, count: 1, exclude: ['t0', 't1', 't2', 't3', 't4', 't5', 't6'], sampler: ref('sampler-3') },
    ]);
    const shards = inputsOf<RolloutShardInput>('rolloutBatch');
    expect(shards.map((s) => [s.shard, s.firstGroup, s.taskIds])).toEqual([
      [0, 0, ['t0', 't1']],
      [1, 2, ['t2', 't3']],
      [2, 4, ['t4', 't5']],
      [3, 6, ['t6']],
      [4, 7, ['t7']],
    ]);
    const checks = inputsOf<CheckRewardsInput>('checkRewards');
    expect(checks.map((c) => [c.round, c.rollouts.map((r) => r.key), c.previous?.key])).toEqual([
      [0, ['shard-0', 'shard-1'], undefined],
      [1, ['shard-2', 'shard-3'], 'rewards-0'],
      [2, ['shard-4'], 'rewards-1'],
    ]);
    // Every later phase sees every round's rollouts and the last round's rewards, which cover them all.
    for (const name of ['scoreBatch', 'computeAdvantages', 'updatePolicy']) {
      expect(inputsOf<{ rollouts: ArtifactRef[] }>(name)[0].rollouts.map((r) => r.key)).toEqual(['shard-0', 'shard-1', 'shard-2', 'shard-3', 'shard-4']);
    }
    expect(inputsOf<RecordStepInput>('recordStep')[0].rewards.key).toBe('rewards-2');
    expect(metrics).toMatchObject({ groupsDrawn: 8, refillRounds: 2, informativeGroups: 4, flatGroups: 4 });
  });

  it('refill stops at the maxGroups budget, and only the group estimators refill', async () => {
    const flat = new Set(Array.from({ length: 12 }, (_, i) => `t${i}`));
    const budgeted = scripted(flat);
    expect((await runStep(budgeted.activities, config({ dynamicSampling: { refill: true, maxGroups: 6 } }), start())).metrics).toMatchObject({
      groupsDrawn: 6,
      refillRounds: 1,
      informativeGroups: 0,
    });
    const byDefault = scripted(flat);
    expect((await runStep(byDefault.activities, config({ dynamicSampling: { refill: true } }), start())).metrics.groupsDrawn).toBe(12); // 3 x tasksPerStep

    // PPO trains on every group: validation refuses refill with it (config.test.ts), and a config that bypassed
    // validation still draws one round.
    expect(() => config({ algorithm: 'ppo', dynamicSampling: { refill: true } })).toThrow(/dynamicSampling\.refill: /);
    const ppo = scripted(flat);
    const ppoRefill = { ...config({ algorithm: 'ppo' }), dynamicSampling: { refill: true } };
    expect((await runStep(ppo.activities, ppoRefill, start())).metrics.groupsDrawn).toBe(4);
  });

  it('adapts the KL coefficient toward kl.targetKl from the KL penalty the step measured', async () => {
    const adaptive = config({ agent: { kl: { mode: 'reward', coef: 0.05, targetKl: 0.1 } } });
    const controller = (kl: number) => updateKlController({ kind: 'adaptive', coef: 0.05, targetKl: 0.1, horizon: 10_000 }, kl, 4 * 2).coef;

    const above = await runStep(scripted(new Set(), { reward: 0.3, loss: 0 }).activities, adaptive, start(0.05));
    expect(above.metrics).toMatchObject({ klCoef: 0.05, measuredKl: 0.3 });
    expect(above.next.klCoef).toBeCloseTo(controller(0.3), 12);
    expect(above.next.klCoef).toBeGreaterThan(0.05);

    const below = await runStep(scripted(new Set(), { reward: 0.05, loss: 0 }).activities, adaptive, start(0.05));
    expect(below.next.klCoef).toBeCloseTo(controller(0.05), 12);
    expect(below.next.klCoef).toBeLessThan(0.05);

    // Without a target the coefficient stays; in loss mode the KL recorded is the loss term's.
    const fixed = await runStep(scripted(new Set(), { reward: 0.3, loss: 0 }).activities, config({ agent: { kl: { mode: 'reward', coef: 0.05 } } }), start(0.05));
    expect(fixed.next.klCoef).toBe(0.05);
    const loss = await runStep(scripted(new Set(), { reward: 0, loss: 0.2 }).activities, config({ agent: { kl: { mode: 'loss', coef: 0.05 } } }), start(0.05));
    expect(loss.metrics.measuredKl).toBe(0.2);
    expect(loss.next.klCoef).toBe(0.05);
  });
});
