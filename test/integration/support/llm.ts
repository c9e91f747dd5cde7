/**
 * The small SmolLM2 + LoRA deepsearch run the LLM integration tests train (issue 27's llm-run.test.ts and issue 31's
 * llm-served-run.test.ts): about a minute a step on 2 cores; the entropy bonus makes every update move the adapter.
 */
import { testConfig } from './harness';

export const SMOL_STEPS = 3;

export const smolDeepsearchConfig = (policy: Record<string, unknown> = {}, steps = SMOL_STEPS) =>
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
    // The torch worker loads the model (~20 s) inside the first activity it runs after a restart.
    timeouts: { activityStartToClose: '10m', activityHeartbeat: '60s', retryInitialInterval: '1s', retryMaximumInterval: '2s' },
  });
