/**
 * The whole text-agent step (base SFT, rollout, reward check, scoring, advantages, PPO update, weight sync) in
 * one process on a tiny apps config: reproducible from config + seed, and the trainer's recomputed log-probs
 * agree with the sampler's; a finished run leaves no tensors behind.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '../../../common/artifacts';
import { trainInProcess } from '../../../trainer/in-process';
import { artifactKeys as keys } from '../../../common/artifact-keys';
import { Scores } from '../../../trainer/score';
import { parseRunConfig } from '../../../config/run-config';

const config = (runId: string, algorithm = 'grpo', steps = 1) =>
  parseRunConfig({
    runId,
    env: 'apps',
    algorithm,
    steps,
    tasksPerStep: 2,
    groupSize: 2,
    rolloutShards: 1,
    learningRate: 1e-3,
    agent: {
      model: { layers: 1, heads: 2, width: 32, contextLength: 512 },
      base: { sftSteps: 3, demosPerTask: 1, sftBatchSize: 4 },
      sampling: { maxTurns: 2, temperature: 0.7 }, // sampler and trainer must both use log π_T
      ppo: { minibatchSegments: 4 },
    },
    evaluation: { tasks: 2 },
  });

describe('in-process training on apps', () => {
  const dirs: string[] = [];
  const store = () => {
    const dir = mkdtempSync(join(tmpdir(), 'ratchet-inproc-'));
    dirs.push(dir);
    return new LocalArtifactStore(dir);
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  // PPO: its scoreBatch covers every trajectory (GRPO's skips flat groups, and a 3-step base makes them all flat).
  it('gives the same checkpoint bytes for the same config and seed, and recomputed log-probs match the sampler', async () => {
    const a = store();
    const first = await trainInProcess(config('same', 'ppo'), a);
    const second = await trainInProcess(config('same', 'ppo'), store());
    expect(first.policy.version).toBe(1);
    expect(second.policy.checkpoint.sha256).toBe(first.policy.checkpoint.sha256);
    expect(second.policy.sha256).toBe(first.policy.sha256);
    expect(first.evaluations).toHaveLength(1);

    const scores = JSON.parse(new TextDecoder().decode(await a.get(keys.step('same', 0, 'scores.json')))) as Scores;
    expect(scores.scored).toBeUndefined();
    const rollouts = JSON.parse(new TextDecoder().decode(await a.get(keys.step('same', 0, 'rollouts/shard-000.json')))) as { turns: { sampleLogProbs: number[] }[] }[];
    const sampled = rollouts.map((t) => t.turns.flatMap((turn) => turn.sampleLogProbs));
    let compared = 0;
    sampled.forEach((row, i) =>
      row.forEach((logp, t) => {
        expect(Math.abs(scores.oldLogProbs[i][t] - logp)).toBeLessThan(1e-3);
        compared++;
      }),
    );
    expect(compared).toBeGreaterThan(0);
  }, 180_000);

  // Each step replaces the trainer's state (policy, critic, optimizer moments); a bench runs dozens of runs in one
  // process, and undisposed tfjs variables stay in the backend's heap for good.
  it('frees every state and tensor a run made once it returns', async () => {
    await trainInProcess(config('warm-up', 'ppo'), store()); // backend set-up allocates once
    const before = tf.memory().numTensors;
    const run = await trainInProcess(config('three-steps', 'ppo', 3), store());
    expect(run.policy.version).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
  }, 180_000);
});
