/**
 * `npm run bench:async [-- --seeds 1,2,3 --steps 16 --quick]`: asynchronous, one-step-off-policy training against
 * synchronous training, side by side in one run (issue 29's goal: step time <= 0.6x synchronous at a final success
 * within noise, 3 seeds). The demo's learning row (examples/deepsearch-demo.json: deepsearch single-hop, GRPO) on
 * Temporal + Postgres with the control, cpu and gpu pools as separate worker processes, so rollouts (cpu) and
 * updates (gpu) can use a core each. For each seed both modes train from the same cached base, in alternating order
 * (shared cores drift); each run ends with a greedy held-out evaluation. Prints one table, writes
 * bench/results/async[-quick].json. Measurements: bench/NOTES-pipeline.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { buildBaseCheckpoint } from '../cli/sft';
import { withClient } from '../cli/client';
import { startRun } from '../cli/start';
import { parseRunConfig, type RunConfigInput } from '../config/run-config';
import { openDatabase } from '../db/client';
import { listEvaluations, listSteps } from '../db/queries';
import { REPO_ROOT } from '../infra/paths';
import { up } from '../infra/services';
import type { TrainingRunResult } from '../workflows/training-run';
import { startWorker, stopWorkers } from './pipeline-workers';

const opts = new Command()
  .option('--seeds <list>', 'comma-separated seeds (default 1,2,3; quick 2)')
  .option('--steps <n>', 'RL steps per run (default the demo config\'s 16; quick 4)')
  .option('--eval-tasks <n>', 'held-out tasks of the final greedy evaluation (default 100; quick 20)')
  .option('--quick', 'one seed, 4 steps: a few minutes')
  .parse()
  .opts<{ seeds?: string; steps?: string; evalTasks?: string; quick?: boolean }>();

const QUICK = !!opts.quick;
const SEEDS = (opts.seeds ?? (QUICK ? '2' : '1,2,3')).split(',').map(Number);
const STAMP = Date.now().toString(36);
const QUEUES = { control: `bench-async-${STAMP}-control`, cpu: `bench-async-${STAMP}-cpu`, gpu: `bench-async-${STAMP}-gpu` };
const demo = JSON.parse(readFileSync(join(REPO_ROOT, 'examples', 'deepsearch-demo.json'), 'utf8')) as RunConfigInput;
const STEPS = Number(opts.steps ?? (QUICK ? 4 : demo.steps));
const EVAL_TASKS = Number(opts.evalTasks ?? (QUICK ? 20 : 100));
const MODES = { sync: 0, async: 1 } as const;
type Mode = keyof typeof MODES;

interface RunResult {
  seed: number;
  mode: Mode;
  runId: string;
  /** Mean wall ms of the steps after the first (the first loads every policy cold and cannot overlap). */
  stepMs: number;
  /** Mean ms a step waited for its batch (async: the rollout time the update did not hide). */
  awaitBatchMs: number;
  meanTrainingSuccess: number;
  heldOutSuccess: number;
  staleness: Record<string, number>;
  meanImportanceWeight: number;
  cappedTokens: number;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

async function main(): Promise<void> {
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`bench:async: seeds ${SEEDS.join(',')}, ${STEPS} steps, ${cpus().length} cores, load average ${loadBefore}`);
  const stack = await up(() => undefined);
  const env = { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl };
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  const database = openDatabase(stack.databaseUrl, 2);
  const workers = [await startWorker('control', 'async-control', QUEUES, env), await startWorker('gpu', 'async-gpu', QUEUES, env), await startWorker('cpu', 'async-cpu', QUEUES, env)];
  const results: RunResult[] = [];
  try {
    for (const [i, seed] of SEEDS.entries()) {
      const input = { ...demo, seed, steps: STEPS, taskQueues: QUEUES, evaluation: { every: 0, tasks: EVAL_TASKS } } as RunConfigInput;
      console.log(`seed ${seed}: building (or reusing) the base ...`);
      const base = await buildBaseCheckpoint(parseRunConfig({ ...input, runId: `bench-async-${STAMP}-base-${seed}` }), { reuse: true, log: () => undefined });
      const order: Mode[] = i % 2 === 0 ? ['sync', 'async'] : ['async', 'sync'];
      for (const mode of order) {
        const raw = { ...input, runId: `bench-async-${STAMP}-${seed}-${mode}`, async: { maxStaleness: MODES[mode] }, agent: { ...input.agent, base: { ...input.agent!.base, checkpoint: base } } };
        const started = Date.now();
        const result = (await withClient(async (client) => (await startRun(client, raw, parseRunConfig(raw))).result())) as TrainingRunResult;
        if (result.status !== 'completed') throw new Error(`run ${raw.runId} ended ${result.status}`);
        const run = await measure(database, seed, mode, raw.runId);
        results.push(run);
        console.log(
          `  ${mode}: ${((Date.now() - started) / 60_000).toFixed(1)} min, step ${run.stepMs.toFixed(0)} ms (waiting for the batch ${run.awaitBatchMs.toFixed(0)} ms), ` +
            `held-out ${pct(run.heldOutSuccess)}, staleness ${JSON.stringify(run.staleness)}`,
        );
      }
    }
  } finally {
    await stopWorkers(workers);
  }
  await database.close();
  const loadAfter = loadavg().map((x) => x.toFixed(2)).join(' ');

  const of = (mode: Mode) => results.filter((r) => r.mode === mode);
  const ratios = SEEDS.map((seed) => results.find((r) => r.seed === seed && r.mode === 'async')!.stepMs / results.find((r) => r.seed === seed && r.mode === 'sync')!.stepMs);
  const staleness: Record<string, number> = {};
  for (const r of of('async')) for (const [k, n] of Object.entries(r.staleness)) staleness[k] = (staleness[k] ?? 0) + n;

  console.log('\n| seed | mode | step (ms, warm) | waiting for the batch (ms) | training success | held-out success (greedy) | staleness (trajectories by versions behind) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.seed} | ${r.mode} | ${r.stepMs.toFixed(0)} | ${r.awaitBatchMs.toFixed(0)} | ${pct(r.meanTrainingSuccess)} | ${pct(r.heldOutSuccess)} | ${JSON.stringify(r.staleness)} |`);
  }
  const success = (mode: Mode) => of(mode).map((r) => r.heldOutSuccess);
  const goal = mean(ratios) <= 0.6;
  console.log(
    `\nstep time async / sync: ${ratios.map((r) => r.toFixed(2)).join(', ')} (mean ${mean(ratios).toFixed(2)}; goal <= 0.6: ${goal ? 'met' : 'not met'}); ` +
      `held-out success sync ${pct(mean(success('sync')))} ± ${pct(sd(success('sync')))}, async ${pct(mean(success('async')))} ± ${pct(sd(success('async')))} ` +
      `(${EVAL_TASKS} tasks each); staleness histogram ${JSON.stringify(staleness)}; load average ${loadBefore} before, ${loadAfter} after`,
  );
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const name = QUICK ? 'async-quick' : 'async';
  const summary = { stepTimeRatio: mean(ratios), ratios, goalMet: goal, heldOut: { sync: success('sync'), async: success('async') }, staleness };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ seeds: SEEDS, steps: STEPS, evalTasks: EVAL_TASKS, cores: cpus().length, loadAverage: { before: loadBefore, after: loadAfter }, summary, runs: results }, null, 2) + '\n');
  console.log(`wrote bench/results/${name}.json`);
}

async function measure(database: ReturnType<typeof openDatabase>, seed: number, mode: Mode, runId: string): Promise<RunResult> {
  const rows = await listSteps(database.db, runId);
  const warm = rows.length > 1 ? rows.slice(1) : rows;
  const metrics = rows.map((r) => r.metrics as { phaseMs?: Record<string, number>; staleness?: Record<string, number>; importanceWeight?: number; importanceCapped?: number });
  const staleness: Record<string, number> = {};
  for (const m of metrics) for (const [k, n] of Object.entries(m.staleness ?? { 0: 0 })) staleness[k] = (staleness[k] ?? 0) + n;
  if (mode === 'sync') staleness[0] = rows.reduce((n, r) => n + r.trajectories, 0);
  const weighted = metrics.filter((m) => m.importanceWeight !== undefined);
  const evaluations = (await listEvaluations(database.db, runId)).filter((e) => e.mode === 'greedy');
  return {
    seed,
    mode,
    runId,
    stepMs: mean(warm.map((r) => r.wallMs)),
    awaitBatchMs: mean(warm.map((r) => (r.metrics as { phaseMs?: Record<string, number> }).phaseMs?.awaitBatch ?? 0)),
    meanTrainingSuccess: mean(rows.map((r) => r.successRate)),
    heldOutSuccess: evaluations.at(-1)?.successRate ?? NaN,
    staleness,
    meanImportanceWeight: weighted.length ? mean(weighted.map((m) => m.importanceWeight!)) : 1,
    cappedTokens: metrics.reduce((n, m) => n + (m.importanceCapped ?? 0), 0),
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
