/**
 * A pretrained LLM policy end to end on real Temporal + Postgres (issue 27): SmolLM2-135M-Instruct with LoRA on
 * deepsearch, rolled out by the TypeScript cpu worker (onnxruntime-node over the trainer's fp32 export) and trained
 * by the Python torch worker. The torch worker is SIGKILLed during an update and restarted: the run completes with
 * exact trajectory rows and a final adapter checkpoint byte-identical to an uninterrupted run's. Every step records
 * the rollout engine's log-prob mismatch against the trainer, which stays at fp32 noise after each weight sync.
 * On apps, initPolicy first fine-tunes the adapter on the expert's chats that the cpu worker wrote (agent.policy.sft).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { sql } from 'drizzle-orm';
import { deleteRun, listSteps } from '../../db/queries';
import { REPO_ROOT } from '../../infra/paths';
import { modelsDir } from '../../policy/llm/models';
import { pullModel } from '../../policy/llm/pull';
import type { Progress } from '../../workflows/training-run';
import { ratchet } from './support/cli';
import { runUninterrupted, runWithFaults } from './support/faults';
import { eventually, openHarness, testConfig, type Harness } from './support/harness';
import { SMOL_STEPS, removeSmolGraphs, smolDeepsearchConfig } from './support/llm';

let h: Harness;
beforeAll(async () => {
  await pullModel('smollm2-135m-instruct');
  h = await openHarness();
}, 120_000);
afterAll(async () => {
  if (h) removeSmolGraphs(h.env.artifactsDir, readmeRuns);
  await h?.close();
});

const STEPS = SMOL_STEPS;
const readmeRuns: string[] = [];
const llmConfig = () => smolDeepsearchConfig();

async function trajectoryRows(runId: string) {
  const { rows } = await h.database.db.execute(
    sql`select step, "group", sample, task_id, reward, success, turns, tokens from trajectories where run_id = ${runId} order by step, "group", sample`,
  );
  return rows;
}

test('SmolLM2 + LoRA on deepsearch: SIGKILL of the torch worker mid-update, exact rows, identical final adapter', async () => {
  const baseline = await runUninterrupted(h, llmConfig(), { gpu: 'torch' });
  const faulted = await runWithFaults(h, llmConfig(), [{ pool: 'gpu', phase: 'updatePolicy', atStep: 1, delayMs: 3000, withinMs: 15 * 60_000 }], {}, { gpu: 'torch' });

  expect(faulted.result).toMatchObject({ status: 'completed', steps: STEPS, policyVersion: STEPS });
  expect(faulted.fired.map((f) => [f.pool, f.step])).toEqual([['gpu', 1]]);
  expect(faulted.retries.some((r) => r.startsWith('updatePolicy@'))).toBe(true);
  expect(faulted.steps).toEqual([...Array(STEPS).keys()]);
  const rollouts = STEPS * 2 * 2;
  expect(faulted.trajectories).toEqual({ total: rollouts, distinct: rollouts });
  expect(await trajectoryRows(faulted.result.runId)).toEqual(await trajectoryRows(baseline.result.runId));
  expect(faulted.finalCheckpoint).toEqual(baseline.finalCheckpoint);
  expect(baseline.finalCheckpoint.version).toBe(STEPS);

  // The checkpoints are the Python worker's safetensors adapters, and every update changed them.
  const { rows: checkpoints } = await h.database.db.execute(sql`select version, artifact_key, sha256 from checkpoints where run_id = ${faulted.result.runId} order by version`);
  const versions = Array.from({ length: STEPS }, (_, i) => i + 1);
  expect(checkpoints.map((c) => c.artifact_key)).toEqual(versions.map((v) => `runs/${faulted.result.runId}/checkpoints/v${String(v).padStart(6, '0')}.safetensors`));
  expect(new Set(checkpoints.map((c) => c.sha256)).size).toBe(STEPS);
  // Each sync deleted the graphs keepExports (2) or more versions behind; the checkpoints above all stay.
  const graphs = readdirSync(join(h.env.artifactsDir, 'runs', faulted.result.runId, 'policy')).filter((f) => f.endsWith('.onnx'));
  expect(graphs).toEqual([STEPS - 1, STEPS].map((v) => `v${String(v).padStart(6, '0')}.onnx`));

  // Weight sync reaches the rollout side: each step's rollouts (v0, then each synced version) score the same
  // log-probs in the trainer to fp32 noise.
  for (const row of await listSteps(h.database.db, faulted.result.runId)) {
    const m = row.metrics as Record<string, number>;
    expect(m.logProbMismatchTokens).toBeGreaterThan(0);
    expect(m.logProbMismatch).toBeLessThan(1e-3);
    expect(m.trainedTokens).toBeGreaterThan(0);
  }
}, 40 * 60_000);

/** The results of a workflow's completed activities, by activity type, in history order. */
async function activityResults(workflowId: string): Promise<Record<string, unknown[]>> {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  const out: Record<string, unknown[]> = {};
  for (const [i, event] of (history.events ?? []).entries()) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(event.eventId ?? i + 1), scheduled.activityType?.name ?? '');
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const type = types.get(String(completed.scheduledEventId))!;
      (out[type] ??= []).push(defaultPayloadConverter.fromPayload(completed.result!.payloads![0]));
    }
  }
  return out;
}

test('SmolLM2 on apps: a format SFT on the expert chats, then rollouts score the same log-probs in the trainer before and after an update (PPO with the value head)', async () => {
  const config = testConfig({
    env: 'apps',
    split: 'train',
    algorithm: 'ppo',
    steps: 2,
    seed: 2,
    tasksPerStep: 1,
    groupSize: 2,
    rolloutShards: 1,
    learningRate: 1e-3,
    agent: {
      policy: { kind: 'llm', model: 'smollm2-135m-instruct', lora: { rank: 4, alpha: 8 }, sft: { steps: 2, batchSize: 2, tasks: 2 } },
      sampling: { temperature: 1, maxActionTokens: 24, maxTurns: 2 },
      ppo: { epochs: 1, minibatchSegments: 8, microbatchSegments: 4, entropyCoef: 0.01 },
    },
    evaluation: { split: 'dev', tasks: 1 },
    timeouts: { activityStartToClose: '10m', activityHeartbeat: '60s', retryInitialInterval: '1s', retryMaximumInterval: '2s' },
  });
  const run = await runUninterrupted(h, config, { gpu: 'torch' });
  expect(run.result).toMatchObject({ status: 'completed', steps: 2, policyVersion: 2 });
  // The cpu worker wrote the expert's chats; the torch worker's initPolicy trained on them (its result, in the
  // workflow history, carries the SFT's metrics).
  const results = await activityResults(`train-${config.runId}`);
  expect(results.writeDemonstrations).toEqual([{ key: `runs/${config.runId}/demonstrations.json`, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
  const [init] = results.initPolicy as { version: number; sft: Record<string, number> }[];
  expect(init.version).toBe(0);
  expect(init.sft).toMatchObject({ sftSteps: 2 });
  expect(init.sft.sftTokens).toBeGreaterThan(0);
  const rows = await listSteps(h.database.db, config.runId);
  expect(rows.map((r) => r.policyVersion)).toEqual([0, 1]);
  for (const row of rows) {
    const m = row.metrics as Record<string, number>;
    expect(m.logProbMismatchTokens).toBeGreaterThan(0);
    expect(m.logProbMismatch).toBeLessThan(1e-3);
    expect(m.optimizerSteps).toBeGreaterThan(0);
  }
}, 20 * 60_000);

/** The README's LLM commands, each run as written (a unique run id in place of `my-llm`). */
const README_COMMANDS = {
  pull: 'npm run ratchet -- models pull smollm2-135m-instruct',
  workers: 'npm run ratchet -- workers --torch',
  start: 'npm run ratchet -- start examples/deepsearch-llm.json --run-id my-llm --watch',
  down: 'npm run ratchet -- down',
};

test("the README's LLM commands: pull, workers --torch, start the example; its first step trains on the torch worker", async () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  for (const line of Object.values(README_COMMANDS)) expect(readme).toContain(line);
  const words = (line: string) => line.replace(/^npm run ratchet -- /, '').split(' ');
  // The background workers' pid files and logs go to a folder of their own, so `down` stops only them (the test
  // server and database were not started by `up`); the models and artifacts are the usual ones.
  const env = { RATCHET_DATA_DIR: mkdtempSync(join(tmpdir(), 'ratchet-readme-llm-')), RATCHET_MODELS_DIR: modelsDir(), RATCHET_ARTIFACTS_DIR: h.env.artifactsDir };
  const runId = `readme-llm-${randomUUID().slice(0, 8)}`;
  readmeRuns.push(runId);

  expect(await ratchet(words(README_COMMANDS.pull), 300_000, env)).toMatchObject({ code: 0 });
  expect(await ratchet(words(README_COMMANDS.workers), 120_000, env)).toMatchObject({ code: 0 });
  try {
    const watching = ratchet(words(README_COMMANDS.start.replace('my-llm', runId)), 30 * 60_000, env);
    const handle = h.client.workflow.getHandle(`train-${runId}`);
    // initPolicy on the torch worker, then step 0's rollouts on the cpu worker and its scoring back on the torch worker.
    await eventually(
      'step 0 of the example scored',
      async () => {
        const p = (await handle.query('progress').catch(() => undefined)) as Progress | undefined;
        return p && (p.step >= 1 || ['computeAdvantages', 'updatePolicy', 'syncWeights', 'recordStep'].includes(p.phase)) ? true : undefined;
      },
      20 * 60_000,
      1000,
    );
    await handle.terminate('README check: the first step ran');
    expect((await watching).code).not.toBe(0); // --watch reports the terminated run
  } finally {
    await ratchet(words(README_COMMANDS.down), 60_000, env);
    await deleteRun(h.database.db, runId);
  }
}, 30 * 60_000);
