/**
 * Load: 8 bandit runs at once on one set of workers (one control, one cpu, one gpu worker, queues shared by all).
 * Every run completes with exactly its rows, and ends on the same checkpoint as the same config and seed run
 * alone on the same workers; each run's mean step time under load and alone is printed.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { latestCheckpoint, listSteps } from '../../db/queries';
import type { Progress, TrainingRunResult } from '../../workflows/training-run';
import { openHarness, runWorkers, testConfig, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

const RUNS = 8;
const STEPS = 4;
const TASKS_PER_STEP = 4;
const GROUP_SIZE = 4;
const TEST_TIMEOUT_MS = 180_000;

/** One set of queues for every run, instead of testConfig's per-run ones. */
const queues = (() => {
  const prefix = `load-${randomUUID().slice(0, 8)}`;
  return { control: `${prefix}-control`, cpu: `${prefix}-cpu`, gpu: `${prefix}-gpu` };
})();

/** Run `index`'s config (its own seed) under a fresh run id; small latencies so the runs' activities interleave. */
function loadConfig(index: number, label: string) {
  const config = testConfig({
    runId: `load-${label}-${index}-${randomUUID().slice(0, 6)}`,
    steps: STEPS,
    seed: 100 + index,
    tasksPerStep: TASKS_PER_STEP,
    groupSize: GROUP_SIZE,
    bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: 30, updateLatencyMs: 30 },
  });
  return { ...config, taskQueues: queues };
}

/** Run to the end; past `deadline` (epoch ms), fail naming where the run stands instead of a bare jest timeout. */
async function train(config: ReturnType<typeof loadConfig>, deadline: number): Promise<TrainingRunResult> {
  const handle = await h.client.workflow.start('trainingRun', { taskQueue: queues.control, workflowId: `train-${config.runId}`, args: [config] });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      const progress = (await handle.query('progress').catch((err: Error) => err.message)) as Progress | string;
      const where = typeof progress === 'string' ? progress : `step ${progress.step}/${progress.totalSteps}, phase ${progress.phase}`;
      reject(new Error(`${config.runId} unfinished at the deadline: ${where}`));
    }, deadline - Date.now());
  });
  try {
    return (await Promise.race([handle.result(), late])) as TrainingRunResult;
  } finally {
    clearTimeout(timer);
  }
}

/** What a run recorded: step numbers, trajectory keys, the final checkpoint, step times. */
async function recorded(runId: string) {
  const steps = await listSteps(h.database.db, runId);
  const trajectoryKeys = (
    await h.database.db.execute(sql`select step, "group", sample from trajectories where run_id = ${runId} order by step, "group", sample`)
  ).rows.map((r) => `${r.step}/${r.group}/${r.sample}`);
  const checkpoint = await latestCheckpoint(h.database.db, runId);
  return {
    steps: steps.map((s) => s.step),
    trajectoryKeys,
    checkpoint: { version: checkpoint?.version, sha256: checkpoint?.sha256 },
    meanStepMs: steps.reduce((sum, s) => sum + s.wallMs, 0) / Math.max(1, steps.length),
    window: { first: Math.min(...steps.map((s) => s.createdAt.getTime())), last: Math.max(...steps.map((s) => s.createdAt.getTime())) },
  };
}

/** Every (step, group, sample) of a complete run, once each. */
const allTrajectoryKeys = [...Array(STEPS).keys()].flatMap((step) =>
  [...Array(TASKS_PER_STEP).keys()].flatMap((group) => [...Array(GROUP_SIZE).keys()].map((sample) => `${step}/${group}/${sample}`)),
);

test('8 runs at once on one set of workers: all complete, rows exact, checkpoints equal to the runs alone', async () => {
  const deadline = Date.now() + TEST_TIMEOUT_MS - 15_000;
  const workers = await runWorkers(h, queues);
  try {
    // Each config alone first, one after the other: the reference checkpoints and step times.
    const alone: Awaited<ReturnType<typeof recorded>>[] = [];
    for (const index of [...Array(RUNS).keys()]) {
      const config = loadConfig(index, 'alone');
      expect(await train(config, deadline)).toMatchObject({ status: 'completed', steps: STEPS, policyVersion: STEPS });
      alone.push(await recorded(config.runId));
    }
    // Different seeds end on different checkpoints, so the comparison below can tell runs apart.
    expect(new Set(alone.map((r) => r.checkpoint.sha256)).size).toBe(RUNS);

    const configs = [...Array(RUNS).keys()].map((index) => loadConfig(index, 'load'));
    const results = await Promise.all(configs.map((config) => train(config, deadline)));
    const loaded = await Promise.all(configs.map((c) => recorded(c.runId)));

    for (const [index, result] of results.entries()) {
      expect(result).toMatchObject({ status: 'completed', steps: STEPS, policyVersion: STEPS });
      const run = loaded[index];
      expect(run.steps).toEqual([...Array(STEPS).keys()]);
      expect(run.trajectoryKeys).toEqual(allTrajectoryKeys);
      expect(run.checkpoint.version).toBe(STEPS);
      expect(run.checkpoint).toEqual(alone[index].checkpoint);
    }
    // The runs were in flight together: some moment lies between every run's first and last step rows.
    expect(Math.max(...loaded.map((r) => r.window.first))).toBeLessThan(Math.min(...loaded.map((r) => r.window.last)));

    const lines = loaded.map((run, index) => {
      const ratio = (run.meanStepMs / alone[index].meanStepMs).toFixed(2);
      return `run ${index} (seed ${configs[index].seed}): alone ${Math.round(alone[index].meanStepMs)} ms, under load ${Math.round(run.meanStepMs)} ms (x${ratio})`;
    });
    console.log(`mean step time, ${RUNS} runs at once vs each alone:\n${lines.join('\n')}`);
  } finally {
    await workers.stop();
  }
}, TEST_TIMEOUT_MS);
