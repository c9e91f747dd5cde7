/**
 * `npm run bench:load`: N runs at once (default 8) on one set of real worker processes (control, cpu, gpu, on
 * queues of their own), against each config run alone on the same workers first. Prints, per run: the mean step
 * time alone and under load (step rows' wall time, queueing included), whether its rows are exact (steps
 * 0..steps-1, every (step, group, sample) trajectory once) and whether its final checkpoint equals the one of the
 * same config and seed alone; then the mean time per phase alone and under load, and the batch's wall time.
 *
 * Services: TEMPORAL_ADDRESS and DATABASE_URL when set, else the embedded defaults (`ratchet up`). `--env apps`
 * trains the builtin text agent with a tiny model from one shared SFT base instead of the bandit.
 * Measurements: bench/NOTES-load.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { sql } from 'drizzle-orm';
import { buildBaseCheckpoint } from '../cli/sft';
import { withClient } from '../cli/client';
import { startRun } from '../cli/start';
import { parseRunConfig, type RunConfigInput } from '../config/run-config';
import { TINY_APPS_RUN } from './tiny-apps';
import { openDatabase, type Database } from '../db/client';
import { latestCheckpoint, listSteps } from '../db/queries';
import { dataDir, REPO_ROOT } from '../infra/paths';
import { tsxCommand } from '../infra/processes';
import { up } from '../infra/services';
import type { TrainingRunResult } from '../workflows/training-run';

interface Options {
  env: 'bandit' | 'apps';
  runs: string;
  alone?: string;
  steps?: string;
  rolloutLatency: string;
  updateLatency: string;
}

const opts = new Command()
  .option('--env <env>', 'bandit, or apps (builtin text agent, tiny model)', 'bandit')
  .option('--runs <n>', 'runs at once', '8')
  .option('--alone <n>', 'how many of the configs also run alone, for the reference (default: all for the bandit, 2 for apps)')
  .option('--steps <n>', 'steps per run (default: 8 for the bandit, 2 for apps)')
  .option('--rollout-latency <ms>', 'bandit only: simulated environment latency per rollout shard', '0')
  .option('--update-latency <ms>', 'bandit only: simulated training time per update', '0')
  .parse()
  .opts<Options>();
if (opts.env !== 'bandit' && opts.env !== 'apps') throw new Error(`--env: expected bandit or apps, got ${opts.env}`);

const RUNS = Number(opts.runs);
const ALONE = Math.min(RUNS, Number(opts.alone ?? (opts.env === 'apps' ? 2 : RUNS)));
const STEPS = Number(opts.steps ?? (opts.env === 'apps' ? 2 : 8));
const TASKS_PER_STEP = opts.env === 'apps' ? 4 : 8;
const GROUP_SIZE = 4;
const STAMP = Date.now().toString(36);
const QUEUES = { control: `bench-load-${STAMP}-control`, cpu: `bench-load-${STAMP}-cpu`, gpu: `bench-load-${STAMP}-gpu` };

/** The config of run `index` (its own seed), before the run id. */
function configInput(index: number): Omit<RunConfigInput, 'runId'> {
  const common = { steps: STEPS, seed: 100 + index, tasksPerStep: TASKS_PER_STEP, groupSize: GROUP_SIZE, rolloutShards: 2, taskQueues: QUEUES };
  if (opts.env === 'bandit') {
    return { ...common, env: 'bandit', bandit: { arms: 6, tasks: 16, worldSeed: 5, rolloutLatencyMs: Number(opts.rolloutLatency), updateLatencyMs: Number(opts.updateLatency) } };
  }
  return { ...common, ...TINY_APPS_RUN };
}

/** The three pools as child processes on this bench's queues; resolves once each says it is ready. */
async function startWorkers(env: NodeJS.ProcessEnv): Promise<ChildProcess[]> {
  const logDir = join(dataDir(), 'logs');
  mkdirSync(logDir, { recursive: true });
  const queueEnv = { RATCHET_CONTROL_QUEUE: QUEUES.control, RATCHET_CPU_QUEUE: QUEUES.cpu, RATCHET_GPU_QUEUE: QUEUES.gpu };
  const children = (['control', 'cpu', 'gpu'] as const).map((pool) => {
    const { command, args } = tsxCommand(join(REPO_ROOT, 'workers', `${pool}.ts`));
    const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...env, ...queueEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const logFile = join(logDir, `bench-load-${pool}.log`);
    const log = createWriteStream(logFile);
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('worker ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`worker ${pool} exited (code ${code}) before it was ready; see ${logFile}`)));
    });
    return { child, ready };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
  } catch (err) {
    await stopWorkers(children.map((c) => c.child));
    throw err;
  }
  return children.map((c) => c.child);
}

async function stopWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => new Promise((resolve) => (w.exitCode !== null ? resolve(null) : (w.once('exit', resolve), w.kill('SIGTERM'))))));
}

interface Recorded {
  meanStepMs: number;
  phaseMs: Record<string, number>;
  rowsExact: boolean;
  checkpoint?: string;
}

/** Steps 0..STEPS-1 once each, and every (step, group, sample) trajectory once. */
async function recorded(db: Database, runId: string): Promise<Recorded> {
  const steps = await listSteps(db, runId);
  const keys = (await db.execute(sql`select step, "group", sample from trajectories where run_id = ${runId} order by step, "group", sample`)).rows.map(
    (r) => `${r.step}/${r.group}/${r.sample}`,
  );
  const expected = [...Array(STEPS).keys()].flatMap((step) =>
    [...Array(TASKS_PER_STEP).keys()].flatMap((group) => [...Array(GROUP_SIZE).keys()].map((sample) => `${step}/${group}/${sample}`)),
  );
  const rowsExact = steps.map((s) => s.step).join() === [...Array(STEPS).keys()].join() && keys.join() === expected.join();
  const phaseMs: Record<string, number> = {};
  for (const step of steps) {
    for (const [phase, ms] of Object.entries((step.metrics as { phaseMs?: Record<string, number> }).phaseMs ?? {})) phaseMs[phase] = (phaseMs[phase] ?? 0) + ms / steps.length;
  }
  const checkpoint = await latestCheckpoint(db, runId);
  return { meanStepMs: mean(steps.map((s) => s.wallMs)), phaseMs, rowsExact, checkpoint: checkpoint?.version === STEPS ? checkpoint.sha256 : undefined };
}

/** The step's phases in the order they run (trainer/step.ts), for the phase table. */
const PHASE_ORDER = ['selectTasks', 'rolloutBatch', 'checkRewards', 'scoreBatch', 'computeAdvantages', 'updatePolicy', 'syncWeights'];
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const ms = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : String(Math.round(x)));

async function main() {
  const stack = await up((line) => console.log(line));
  const env = { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl };
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  const database = openDatabase(stack.databaseUrl, 4);
  let base: { key: string; sha256: string } | undefined;
  if (opts.env === 'apps') {
    base = await buildBaseCheckpoint(parseRunConfig({ ...configInput(0), runId: `bench-load-${STAMP}-base` }), { reuse: true });
  }
  const workers = await startWorkers(env);
  console.log(`workers ready on ${QUEUES.control} / ${QUEUES.cpu} / ${QUEUES.gpu}; ${opts.env}, ${STEPS} steps, ${RUNS} runs (${ALONE} alone first)`);
  try {
    await withClient(async (client) => {
      const train = async (index: number, label: string): Promise<{ runId: string; result: TrainingRunResult }> => {
        const input = configInput(index);
        const raw = { ...input, runId: `bench-load-${STAMP}-${label}-${index}`, ...(base ? { agent: { ...input.agent, base: { ...input.agent?.base, checkpoint: base } } } : {}) };
        const handle = await startRun(client, raw, parseRunConfig(raw));
        return { runId: raw.runId, result: (await handle.result()) as TrainingRunResult };
      };

      const alone: Recorded[] = [];
      let aloneWallMs = 0;
      for (let index = 0; index < ALONE; index++) {
        const started = Date.now();
        const { runId } = await train(index, 'alone');
        aloneWallMs += Date.now() - started;
        alone.push(await recorded(database.db, runId));
        console.log(`alone ${index}: mean step ${ms(alone[index].meanStepMs)} ms`);
      }

      const started = Date.now();
      const settled = await Promise.allSettled([...Array(RUNS).keys()].map((index) => train(index, 'load')));
      const loadWallMs = Date.now() - started;
      const loaded = await Promise.all(
        settled.map(async (s) => (s.status === 'fulfilled' && s.value.result.status === 'completed' ? recorded(database.db, s.value.runId) : undefined)),
      );

      console.log(`\n${opts.env}: ${RUNS} runs at once vs alone, ${STEPS} steps of ${TASKS_PER_STEP} tasks x ${GROUP_SIZE} samples each\n`);
      console.log('| run | seed | completed | mean step alone (ms) | mean step under load (ms) | ratio | rows exact | checkpoint equal |');
      console.log('|---|---|---|---|---|---|---|---|');
      for (const [index, run] of loaded.entries()) {
        const reference = alone[index];
        const failure = settled[index].status === 'rejected' ? ` (${String((settled[index] as PromiseRejectedResult).reason).slice(0, 80)})` : '';
        const ratio = run && reference ? (run.meanStepMs / reference.meanStepMs).toFixed(2) : '-';
        const equal = !run?.checkpoint || !reference ? '-' : run.checkpoint === reference.checkpoint ? 'yes' : 'no';
        console.log(`| ${index} | ${100 + index} | ${run ? 'yes' : `no${failure}`} | ${ms(reference?.meanStepMs)} | ${ms(run?.meanStepMs)} | ${ratio} | ${run?.rowsExact ? 'yes' : 'no'} | ${equal} |`);
      }

      const measured = [...alone, ...loaded].filter((r): r is Recorded => !!r);
      const phases = [...new Set([...PHASE_ORDER, ...measured.flatMap((r) => Object.keys(r.phaseMs))])].filter((p) => measured.some((r) => p in r.phaseMs));
      const phaseMean = (rs: (Recorded | undefined)[], phase: string) => mean(rs.filter((r): r is Recorded => !!r).map((r) => r.phaseMs[phase] ?? 0));
      console.log('\n| phase | mean ms alone | mean ms under load |\n|---|---|---|');
      for (const phase of phases) console.log(`| ${phase} | ${ms(phaseMean(alone, phase))} | ${ms(phaseMean(loaded, phase))} |`);
      console.log(
        `\nwall time: ${RUNS} runs at once ${(loadWallMs / 1000).toFixed(1)} s; ${ALONE} run(s) alone one after another ${(aloneWallMs / 1000).toFixed(1)} s ` +
          `(${ALONE ? ((aloneWallMs / ALONE) / 1000).toFixed(1) : '-'} s each)`,
      );
      if (loaded.some((r) => !r?.rowsExact) || loaded.some((r, i) => alone[i] && r?.checkpoint !== alone[i].checkpoint)) process.exitCode = 1;
    });
  } finally {
    await stopWorkers(workers);
    await database.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
