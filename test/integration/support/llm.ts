/**
 * The small SmolLM2 + LoRA deepsearch run the LLM integration tests train (issue 27's llm-run.test.ts, issue 31's
 * llm-served-run.test.ts and gateway-run.test.ts): about a minute a step on 2 cores; the entropy bonus makes every
 * update move the adapter.
 * Two steps: a kill at step 1 still lands mid-run (step 0 before it, a sync after it), at a minute less per run.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { testConfig } from './harness';

export const SMOL_STEPS = 2;

const smolRuns = new Set<string>();

/**
 * Delete the ONNX graphs of this file's SmolLM2 runs (0.65 GB a version) once its tests are done, so a test session
 * does not pile up gigabytes of them; checkpoints and the rest stay.
 */
export function removeSmolGraphs(artifactsDir: string, extraRunIds: string[] = []): void {
  for (const runId of [...smolRuns, ...extraRunIds]) rmSync(join(artifactsDir, 'runs', runId, 'policy'), { recursive: true, force: true });
  smolRuns.clear();
}

export const smolDeepsearchConfig = (policy: Record<string, unknown> = {}, steps = SMOL_STEPS) => {
  const config = smolConfig(policy, steps);
  smolRuns.add(config.runId);
  return config;
};

const smolConfig = (policy: Record<string, unknown>, steps: number) =>
  testConfig({
    env: 'deepsearch',
    algorithm: 'reinforce_pp',
    steps,
    seed: 5,
    tasksPerStep: 2,
    groupSize: 2,
    rolloutShards: 1,
    learningRate: 1e-3,
    deepsearch: { seed: 0, passages: 2000, family: 'single' },
    agent: {
      policy: { kind: 'llm', model: 'smollm2-135m-instruct', lora: { rank: 4, alpha: 8 }, ...policy },
      sampling: { temperature: 1, maxActionTokens: 16, maxTurns: 2 },
      ppo: { epochs: 1, minibatchSegments: 8, microbatchSegments: 4, entropyCoef: 0.01 },
      kl: { mode: 'loss', coef: 0.01 },
    },
    evaluation: { tasks: 2 },
    // A SIGKILLed activity is retried once its heartbeat times out, so the kill tests wait that long: 20 s. Healthy
    // work beats well inside it: the torch worker every 5 s through model loads and exports (a side thread) and per
    // microbatch while it trains; rollouts per decode step, or every few seconds while a server's replies are out.
    timeouts: { activityStartToClose: '10m', activityHeartbeat: '20s', retryInitialInterval: '1s', retryMaximumInterval: '2s' },
  });
