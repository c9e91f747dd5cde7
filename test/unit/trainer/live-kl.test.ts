/**
 * The KL coefficient is live: the value a step is given (changed by `setHyperparameters` or the adaptive
 * controller) is the one the KL penalty uses in each mode, `reward` through computeAdvantages and `loss`
 * through updatePolicy, even when the config's coefficient is 0 (the reference is scored whenever a mode is set).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, LocalArtifactStore } from '../../../common/artifacts';
import { parseRunConfig } from '../../../config/run-config';
import type { Advantages } from '../../../trainer/advantages';
import { advantagesPhase, checkRewardsPhase, initPolicyPhase, PhaseContext, releaseContext, rolloutPhase, scorePhase, updatePhase } from '../../../trainer/phases';
import { PolicyCache } from '../../../trainer/policy-bundle';
import type { Scores } from '../../../trainer/score';

const config = (mode: 'reward' | 'loss', sftSteps = 3, coef = 0) =>
  parseRunConfig({
    runId: 'live-kl',
    env: 'apps',
    algorithm: 'ppo', // scores and trains every trajectory (a tiny base makes every GRPO group flat)
    steps: 1,
    tasksPerStep: 2,
    groupSize: 2,
    rolloutShards: 1,
    learningRate: 1e-2,
    agent: {
      model: { layers: 1, heads: 2, width: 32, contextLength: 512 },
      base: { sftSteps, demosPerTask: 1, sftBatchSize: 4 },
      sampling: { maxTurns: 2 },
      ppo: { minibatchSegments: 4 },
      kl: { mode, coef, estimator: 'k3' },
    },
    evaluation: { tasks: 1 },
  });

describe('the live KL coefficient, from a config coefficient of 0', () => {
  let dir: string;
  let ctx: PhaseContext;
  afterAll(async () => {
    await releaseContext(ctx);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reaches the reward penalty (computeAdvantages) and the loss term (updatePolicy)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ratchet-live-kl-'));
    const store = new LocalArtifactStore(dir);
    ctx = { store, policies: new PolicyCache(store), states: new Map() };
    // The policy, and a reference that differs from it: the same base trained for two more SFT steps.
    const policy = await initPolicyPhase(ctx, 'live-kl', config('reward'));
    const { checkpoint: reference } = await initPolicyPhase(ctx, 'live-kl-reference', config('reward', 5));
    const step = 0;

    const reward = config('reward');
    const input = { runId: reward.runId, step, config: reward };
    const { rollouts } = await rolloutPhase(ctx, { ...input, shard: 0, taskIds: ['apps/train/0000', 'apps/train/0001'], firstGroup: 0, policy: policy });
    const { rewards } = await checkRewardsPhase(ctx, { ...input, round: 0, rollouts: [rollouts] });
    const { scores } = await scorePhase(ctx, { ...input, rollouts: [rollouts], rewards, policy: policy, reference });
    expect((await getJson<Scores>(store, scores)).refLogProbs).toBeDefined();

    const penalised = async (klCoef: number, runConfig = reward) => {
      const result = await advantagesPhase(ctx, { ...input, config: runConfig, rollouts: [rollouts], rewards, scores, klCoef });
      return { meanKl: result.meanKl, advantages: (await getJson<Advantages>(store, result.advantages)).advantages };
    };
    const [none, live] = [await penalised(0), await penalised(0.5)];
    expect(live.meanKl).toBeGreaterThan(0);
    expect(live.advantages).not.toEqual(none.advantages);
    // Not the config's coefficient either, when it has one.
    const configured = config('reward', 3, 0.01);
    expect((await penalised(0.5, configured)).advantages).toEqual(live.advantages);
    expect((await penalised(0, configured)).advantages).toEqual(none.advantages);

    const loss = config('loss');
    const lossInput = { runId: loss.runId, step, config: loss };
    const lossScores = await scorePhase(ctx, { ...lossInput, rollouts: [rollouts], rewards, policy: policy, reference });
    const { advantages } = await advantagesPhase(ctx, { ...lossInput, rollouts: [rollouts], rewards, scores: lossScores.scores, klCoef: 0 });
    const update = (klCoef: number) =>
      updatePhase(ctx, { ...lossInput, policy: policy, reference, rollouts: [rollouts], scores: lossScores.scores, advantages, learningRate: 1e-2, klCoef });
    const without = await update(0);
    const withKl = await update(0.5);
    expect(without.metrics!.refKl).toBe(0);
    expect(withKl.metrics!.refKl).toBeGreaterThan(0);
    expect(withKl.checkpoint.sha256).not.toBe(without.checkpoint.sha256);
  }, 180_000);
});
