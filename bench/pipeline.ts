/**
 * `npm run bench:pipeline [-- --quick]`: what the durable pipeline costs and where a step's time goes, as ratios
 * measured side by side in one run (absolute times on shared cores are noise). One table, plus
 * bench/results/pipeline[-quick].json and .svg:
 *
 * - orchestration overhead: mean warm step time of one tiny apps config and seed on Temporal + Postgres (worker
 *   processes on queues of this bench) over the same config in process (trainer/in-process.ts, run before and
 *   after); goal <= 1.05. Also with only the time around the activities (the workers' logged durations);
 * - rollout efficiency: policy tokens/s of the rollout activities (sampled tokens over the rolloutBatch phase)
 *   over the raw engine replaying the same prompts batch by batch (bench/pipeline-rollout.ts); goal >= 0.7;
 * - trainer efficiency: the tfjs trainer's FLOP/s over a tfjs matmul peak of this process; goal >= 0.30. The
 *   PyTorch trainer's share comes from bench:policy --llm (bench/results/policy-llm.json) when that ran;
 * - scale-out: rollout tokens/s with 2 cpu worker processes over 1; goal >= 1.7 on 2 cores;
 * - database headroom: trajectory rows/s Postgres takes over the rows/s the Temporal run produced; goal >= 10;
 * - phases: each step phase's mean ms in each run, and in the 1-cpu run inside vs around the activities.
 *
 * Services: TEMPORAL_ADDRESS / DATABASE_URL when set, else the embedded defaults (`ratchet up`).
 * Measurements: bench/NOTES-pipeline.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { buildBaseCheckpoint } from '../cli/sft';
import { withClient } from '../cli/client';
import { startRun } from '../cli/start';
import { LocalArtifactStore } from '../common/artifacts';
import { parseRunConfig, type RunConfig, type RunConfigInput } from '../config/run-config';
import { openDatabase } from '../db/client';
import { latestCheckpoint, listSteps } from '../db/queries';
import { artifactsDir, REPO_ROOT } from '../infra/paths';
import { up } from '../infra/services';
import { backendInfo, initBackend } from '../policy/backend';
import { DEFAULT_MODEL_CONFIG } from '../policy/model';
import { trainInProcess } from '../trainer/in-process';
import type { TrainingRunResult } from '../workflows/training-run';
import { writeChart } from './pipeline-chart';
import { TINY_APPS_RUN } from './tiny-apps';
import { trajectoryRowsPerSecond } from './pipeline-db';
import { policyTokens, rawReplay, stepShards } from './pipeline-rollout';
import { tfjsMatmulPeak, tfjsTrainer } from './pipeline-trainer';
import { insideMs, readActivityLog, shardPlacement } from './pipeline-activities';
import { startWorker, stopWorkers, workerLogFile } from './pipeline-workers';

const opts = new Command()
  .option('--quick', 'a ~3-minute version: fewer steps, a shorter database burst')
  .option('--steps <n>', 'steps per run (default 6, quick 3; step 0 is the cold start and is left out of the means)')
  .parse()
  .opts<{ quick?: boolean; steps?: string }>();

const QUICK = !!opts.quick;
const STEPS = Number(opts.steps ?? (QUICK ? 3 : 6));
const STAMP = Date.now().toString(36);
const QUEUES = { control: `bench-pipeline-${STAMP}-control`, cpu: `bench-pipeline-${STAMP}-cpu`, gpu: `bench-pipeline-${STAMP}-gpu` };
const GOALS = { overhead: { goal: 1.05, atMost: true }, rollout: { goal: 0.7 }, trainer: { goal: 0.3 }, scaleOut: { goal: 1.7 }, dbHeadroom: { goal: 10 } };
const PHASE_ORDER = ['selectTasks', 'rolloutBatch', 'checkRewards', 'scoreBatch', 'computeAdvantages', 'updatePolicy', 'syncWeights'];

/** The tiny apps run (bench/tiny-apps.ts) on this bench's queues. */
const configInput: Omit<RunConfigInput, 'runId'> = { ...TINY_APPS_RUN, steps: STEPS, seed: 100, tasksPerStep: 8, groupSize: 4, rolloutShards: 2, taskQueues: QUEUES };

interface StepTimes {
  wallMs: number;
  phaseMs: Record<string, number>;
}
interface RunTimes {
  runId: string;
  steps: StepTimes[];
  checkpoint?: string;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
/** Steps after the first (the first loads every policy and state cold), or all when there is one. */
const warm = <T>(steps: T[]) => (steps.length > 1 ? steps.slice(1) : steps);
const warmIndices = () => warm([...Array(STEPS).keys()]);
const meanStepMs = (run: RunTimes) => mean(warm(run.steps).map((s) => s.wallMs));
const phaseMean = (run: RunTimes, phase: string) => mean(warm(run.steps).map((s) => s.phaseMs[phase] ?? 0));
const fixed = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const loadBefore = load();
  console.log(`bench:pipeline${QUICK ? ' --quick' : ''}: ${STEPS} steps per run, ${cpus().length} cores, load average ${loadBefore}`);
  const stack = await up(() => undefined);
  const env = { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl };
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  const database = openDatabase(stack.databaseUrl, 2);
  const store = new LocalArtifactStore(artifactsDir());
  const backend = await initBackend({ quiet: true });

  const base = await buildBaseCheckpoint(parseRunConfig({ ...configInput, runId: `bench-pipeline-${STAMP}-base` }), { reuse: true, log: () => undefined });
  const configFor = (label: string): { raw: RunConfigInput & { runId: string }; config: RunConfig } => {
    const raw = { ...configInput, runId: `bench-pipeline-${STAMP}-${label}`, agent: { ...configInput.agent, base: { ...configInput.agent!.base, checkpoint: base } } };
    return { raw, config: parseRunConfig(raw) };
  };

  // 1. In process: the baseline, run before and after the Temporal runs (load on shared cores drifts; the two
  // together cancel a steady drift), its warm steps pooled.
  const inProcessTimes = async (label: string): Promise<RunTimes> => {
    const { raw, config } = configFor(label);
    console.log(`in-process run ${label} ...`);
    const local = await trainInProcess(config, store);
    return { runId: raw.runId, steps: local.steps.map((s) => ({ wallMs: s.wallMs, phaseMs: s.phaseMs })), checkpoint: local.checkpoints.at(-1)?.sha256 };
  };
  const runConfig = configFor('inprocess').config;
  const before = await inProcessTimes('inprocess');

  // 2. and 3. Temporal + Postgres with worker processes: one cpu worker, then two.
  const workers = [await startWorker('control', 'control', QUEUES, env), await startWorker('gpu', 'gpu', QUEUES, env), await startWorker('cpu', 'cpu-1', QUEUES, env)];
  const temporalRun = async (label: string): Promise<RunTimes> => {
    const { raw, config } = configFor(label);
    console.log(`temporal run ${label} ...`);
    const result = (await withClient(async (client) => (await startRun(client, raw, config)).result())) as TrainingRunResult;
    if (result.status !== 'completed') throw new Error(`run ${raw.runId} ended ${result.status}`);
    const rows = await listSteps(database.db, raw.runId);
    const steps = rows.map((r) => ({ wallMs: r.wallMs, phaseMs: (r.metrics as { phaseMs?: Record<string, number> }).phaseMs ?? {} }));
    return { runId: raw.runId, steps, checkpoint: (await latestCheckpoint(database.db, raw.runId))?.sha256 };
  };
  let oneCpu: RunTimes;
  let twoCpu: RunTimes;
  try {
    oneCpu = await temporalRun('temporal-1cpu');
    workers.push(await startWorker('cpu', 'cpu-2', QUEUES, env));
    twoCpu = await temporalRun('temporal-2cpu');
  } finally {
    await stopWorkers(workers);
  }
  const after = await inProcessTimes('inprocess-after');
  // warm() drops a run's first step: the pooled run keeps before's cold step first, then both runs' warm steps.
  const inProcessRun: RunTimes = { runId: before.runId, steps: [...before.steps, ...warm(after.steps)], checkpoint: before.checkpoint === after.checkpoint ? before.checkpoint : undefined };

  // Each Temporal phase split into time inside its activities (the workers' logs) and around them (scheduling,
  // queueing, payloads: what orchestration adds to the same work).
  const cpuLogs = [readActivityLog(workerLogFile('cpu-1')), readActivityLog(workerLogFile('cpu-2'))];
  const activityLog = [...cpuLogs.flat(), ...readActivityLog(workerLogFile('gpu'))];
  const split = (run: RunTimes, phase: string) => {
    const inside = mean(warmIndices().map((step) => insideMs(activityLog, run.runId, step, phase)));
    return { inside, around: phaseMean(run, phase) - inside };
  };
  const aroundPerStep = (run: RunTimes) => mean(warmIndices().map((step) => run.steps[step].wallMs - PHASE_ORDER.reduce((n, p) => n + insideMs(activityLog, run.runId, step, p), 0)));
  const placement = shardPlacement(cpuLogs, twoCpu.runId, warmIndices());

  // Rollout: the activities' policy tokens/s vs the raw engine on the same batches (the one-cpu run's warm steps).
  const rolloutTokens = (run: RunTimes) =>
    Promise.all(warmIndices().map(async (step) => ({ step, shards: await stepShards(store, runConfig, run.runId, step) })));
  const oneCpuShards = await rolloutTokens(oneCpu);
  const activityTokens = oneCpuShards.reduce((n, s) => n + policyTokens(s.shards), 0);
  const activityMs = warm(oneCpu.steps).reduce((n, s) => n + (s.phaseMs.rolloutBatch ?? 0), 0);
  let raw = { tokens: 0, ms: 0 };
  for (const { shards } of oneCpuShards) {
    const r = await rawReplay(store, runConfig, oneCpu.runId, shards);
    raw = { tokens: raw.tokens + r.tokens, ms: raw.ms + r.ms };
  }
  const activityRate = activityTokens / (activityMs / 1000);
  const rawRate = raw.tokens / (raw.ms / 1000);

  // Scale-out: rollout tokens/s of the rolloutBatch phase with two cpu workers over one.
  const twoCpuTokens = (await rolloutTokens(twoCpu)).reduce((n, s) => n + policyTokens(s.shards), 0);
  const twoCpuMs = warm(twoCpu.steps).reduce((n, s) => n + (s.phaseMs.rolloutBatch ?? 0), 0);
  const twoCpuRate = twoCpuTokens / (twoCpuMs / 1000);

  // Trainer: tfjs FLOP/s over a tfjs matmul peak, both in this process.
  const peakReps = QUICK ? 5 : 20;
  const peakBefore = tfjsMatmulPeak(512, peakReps);
  const trainers = [
    tfjsTrainer(`run model (width ${runConfig.agent.model.width}, ${runConfig.agent.model.layers} layer)`, { ...runConfig.agent.model, vocabSize: DEFAULT_MODEL_CONFIG.vocabSize, dropout: 0 }, 8, 128, QUICK ? 2 : 5),
    tfjsTrainer(`default model (width ${DEFAULT_MODEL_CONFIG.width}, ${DEFAULT_MODEL_CONFIG.layers} layers)`, DEFAULT_MODEL_CONFIG, 8, 128, QUICK ? 2 : 5),
  ];
  const peak = Math.max(peakBefore, tfjsMatmulPeak(512, peakReps));
  const torch = torchFigure();

  // Database: rows/s Postgres takes vs rows/s the one-cpu Temporal run produced.
  const rowsPerStep = runConfig.tasksPerStep * runConfig.groupSize;
  const producedRowsPerSecond = rowsPerStep / (meanStepMs(oneCpu) / 1000);
  const db = await trajectoryRowsPerSecond(database.db, `bench-pipeline-${STAMP}-db`, rowsPerStep, QUICK ? 5 : 15);
  await database.close();

  const ratios = [
    { key: 'overhead', name: 'orchestration overhead (Temporal step / in-process step)', value: meanStepMs(oneCpu) / meanStepMs(inProcessRun), ...GOALS.overhead,
      detail: `${Math.round(meanStepMs(oneCpu))} ms / ${Math.round(meanStepMs(inProcessRun))} ms` },
    { key: 'overhead', name: 'orchestration overhead, time around activities only ((in-process step + around) / in-process step)',
      value: (meanStepMs(inProcessRun) + aroundPerStep(oneCpu)) / meanStepMs(inProcessRun), ...GOALS.overhead,
      detail: `${Math.round(aroundPerStep(oneCpu))} ms around the activities per step; inside them ${Math.round(meanStepMs(oneCpu) - aroundPerStep(oneCpu))} ms vs ${Math.round(meanStepMs(inProcessRun))} ms in process` },
    { key: 'rollout', name: 'rollout efficiency (activity tokens/s / raw engine tokens/s)', value: activityRate / rawRate, ...GOALS.rollout,
      detail: `${activityRate.toFixed(0)} / ${rawRate.toFixed(0)} tokens/s (${activityTokens} / ${raw.tokens} tokens)` },
    ...trainers.map((t) => ({ key: 'trainer', name: `trainer efficiency, tfjs ${backend}, ${t.model}`, value: t.flopsPerSecond / peak, ...GOALS.trainer,
      detail: `${(t.flopsPerSecond / 1e9).toFixed(2)} / ${(peak / 1e9).toFixed(2)} GFLOP/s (${t.tokensPerSecond.toFixed(0)} tokens/s)` })),
    ...(torch ? [{ key: 'trainer', name: 'trainer efficiency, PyTorch (from bench:policy --llm, not this run)', value: torch.share, ...GOALS.trainer, detail: torch.detail }] : []),
    { key: 'scaleOut', name: 'scale-out (rollout tokens/s, 2 cpu workers / 1)', value: twoCpuRate / activityRate, ...GOALS.scaleOut,
      detail: `${twoCpuRate.toFixed(0)} / ${activityRate.toFixed(0)} tokens/s; shards per worker by step: ${placement.join(', ')}` },
    { key: 'dbHeadroom', name: 'database headroom (rows/s taken / rows/s produced)', value: db.rowsPerSecond / producedRowsPerSecond, ...GOALS.dbHeadroom,
      detail: `${db.rowsPerSecond.toFixed(0)} / ${producedRowsPerSecond.toFixed(1)} rows/s` },
  ].map((r) => ({ ...r, met: 'atMost' in r ? r.value <= r.goal : r.value >= r.goal }));

  const runs = { 'in-process (before + after)': inProcessRun, 'temporal, 1 cpu worker': oneCpu, 'temporal, 2 cpu workers': twoCpu };
  const phases = PHASE_ORDER.filter((p) => Object.values(runs).some((r) => r.steps.some((s) => p in s.phaseMs)));
  const phaseRows = [...phases, 'step (wall)'].map((phase) => ({
    phase,
    ms: Object.fromEntries(Object.entries(runs).map(([label, run]) => [label, phase === 'step (wall)' ? meanStepMs(run) : phaseMean(run, phase)])),
    temporal1Cpu: phase === 'step (wall)' ? { inside: meanStepMs(oneCpu) - aroundPerStep(oneCpu), around: aroundPerStep(oneCpu) } : split(oneCpu, phase),
  }));
  const loadAfter = load();

  console.log(`\n| measure | ratio | goal | met | figures |\n|---|---|---|---|---|`);
  for (const r of ratios) console.log(`| ${r.name} | ${fixed(r.value)} | ${'atMost' in r ? '<=' : '>='} ${r.goal} | ${r.met ? 'yes' : 'no'} | ${r.detail} |`);
  console.log(
    `\n| phase (mean ms, warm steps) | ${Object.keys(runs).join(' | ')} | 1 cpu worker: inside activities | 1 cpu worker: around them |\n|---|${Object.keys(runs).map(() => '---|').join('')}---|---|`,
  );
  for (const row of phaseRows) {
    console.log(`| ${row.phase} | ${[...Object.values(row.ms), row.temporal1Cpu.inside, row.temporal1Cpu.around].map((x) => fixed(x, 0)).join(' | ')} |`);
  }
  const sameCheckpoint = new Set(Object.values(runs).map((r) => r.checkpoint)).size === 1;
  console.log(
    `\n${STEPS} steps of 8 tasks x 4 samples each (means over steps 1..${STEPS - 1}); final checkpoints of the four runs ${sameCheckpoint ? 'equal' : 'differ'}; ` +
      `backend ${backendInfo().label}; ${cpus().length} cores; load average ${loadBefore} before, ${loadAfter} after`,
  );

  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const name = QUICK ? 'pipeline-quick' : 'pipeline';
  const result = { quick: QUICK, steps: STEPS, cores: cpus().length, loadAverage: { before: loadBefore, after: loadAfter }, backend: backendInfo(), sameCheckpoint, ratios, phases: phaseRows, runs };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
  await writeChart(join(dir, `${name}.svg`), ratios, phaseRows);
  console.log(`wrote bench/results/${name}.json and ${name}.svg`);
}

/** The PyTorch trainer's update share of the torch matmul peak, as bench:policy --llm last wrote it (if it ran here). */
function torchFigure(): { share: number; detail: string } | undefined {
  const file = join(REPO_ROOT, 'bench', 'results', 'policy-llm.json');
  if (!existsSync(file)) return undefined;
  const json = JSON.parse(readFileSync(file, 'utf8')) as { quick?: boolean; trainer?: { updateShareOfPeak?: number; updateTokensPerSecond?: number } };
  const t = json.trainer;
  if (t?.updateShareOfPeak === undefined) return undefined;
  return { share: t.updateShareOfPeak, detail: `${t.updateTokensPerSecond?.toFixed(0)} tokens/s (bench/results/policy-llm.json${json.quick ? ', quick' : ''})` };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
