/**
 * Chaos: one fault injected at a seeded-random point (step, phase, delay) of a real bandit run on a ChaosStack, then
 * what a durable run owes: it completes, its step and trajectory rows equal the fault-free run's (none lost, none
 * duplicated, same content), its final checkpoint has the same sha256; and how long it took to recover.
 *
 *   const stack = await ChaosStack.open({ dir, temporalPort, postgresPort, pglitePort });
 *   const baseline = await runBaseline(stack, settings);
 *   const outcome = await runChaosPoint(stack, baseline, choosePoints('sigkill-gpu', 1, 7, settings)[0]);
 *
 * The corrupt-artifact kind is the exception: the run must fail non-retryably with a sha256 message, never load
 * the corrupted bytes, and keep the rows of the steps before it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import { artifactKeys } from '../../../common/artifact-keys';
import { Rng } from '../../../common/random';
import type { RunConfigInput } from '../../../config/run-config';
import { latestCheckpoint } from '../../../db/queries';
import { sleep } from '../../../infra/processes';
import type { Progress, TrainingRunResult } from '../../../workflows/training-run';
import type { ChaosStack, DatabaseKind, WorkerPool, WorkerSet } from './chaos-stack';

export const CHAOS_KINDS = [
  'sigkill-cpu',
  'sigkill-gpu',
  'sigkill-control',
  'sigstop-cpu',
  'restart-temporal',
  'restart-postgres',
  'restart-pglite',
  'disk-full',
  'corrupt-artifact',
] as const;
export type ChaosKind = (typeof CHAOS_KINDS)[number];

/** The phases of a step, in order (trainer/step.ts); a point is "reached" at or after its (step, phase). */
const PHASES = ['selectTasks', 'rolloutBatch', 'checkRewards', 'scoreBatch', 'computeAdvantages', 'updatePolicy', 'syncWeights', 'recordStep'];

/** Where each kind may land: the phases whose work it disturbs (the slow ones are rolloutBatch and updatePolicy). */
const KIND_PHASES: Record<ChaosKind, string[]> = {
  'sigkill-cpu': ['selectTasks', 'rolloutBatch', 'checkRewards', 'recordStep'],
  'sigkill-gpu': ['scoreBatch', 'updatePolicy', 'syncWeights'],
  'sigkill-control': ['rolloutBatch', 'updatePolicy', 'recordStep'],
  'sigstop-cpu': ['rolloutBatch', 'recordStep'],
  'restart-temporal': ['rolloutBatch', 'updatePolicy', 'syncWeights', 'recordStep'],
  // The database writes: selectTasks (tasks), updatePolicy (checkpoint row), recordStep (trajectories, step; for
  // Postgres held mid-write by a lock on the steps table, see holdRecordStep).
  'restart-postgres': ['selectTasks', 'updatePolicy', 'recordStep'],
  'restart-pglite': ['selectTasks', 'updatePolicy', 'syncWeights', 'recordStep'],
  // The checkpoint is written at the end of updatePolicy, after its simulated training time.
  'disk-full': ['updatePolicy'],
  // Lands when the next step's policy file appears (see corruptWhenWritten), so the phase is fixed.
  'corrupt-artifact': ['syncWeights'],
};

export const databaseOf = (kind: ChaosKind): DatabaseKind => (kind === 'restart-pglite' ? 'pglite' : 'postgres');

export interface ChaosSettings {
  steps: number;
  seed: number;
  tasksPerStep: number;
  groupSize: number;
  rolloutLatencyMs: number;
  updateLatencyMs: number;
  /** Activity heartbeat timeout in ms: how soon a dead or stopped worker's attempt is given up. */
  heartbeatMs: number;
  /** How long a restarted service stays down, and how long the disk stays full. */
  downMs: number;
}

export const DEFAULT_CHAOS_SETTINGS: ChaosSettings = {
  steps: 3,
  seed: 11,
  tasksPerStep: 4,
  groupSize: 4,
  rolloutLatencyMs: 1200,
  updateLatencyMs: 1200,
  heartbeatMs: 2000,
  downMs: 1000,
};

export interface ChaosPoint {
  kind: ChaosKind;
  /** 0-based step; for corrupt-artifact, the step whose policy file is corrupted before it loads it (>= 1). */
  step: number;
  phase: string;
  delayMs: number;
}

/** `count` points for `kind`, the same for the same seed: a step, one of the kind's phases, a delay within it. */
export function choosePoints(kind: ChaosKind, count: number, seed: number, settings: ChaosSettings): ChaosPoint[] {
  const rng = new Rng(seed).fork(`chaos/${kind}`);
  return Array.from({ length: count }, () => {
    const phase = rng.pick(KIND_PHASES[kind]);
    const slow = phase === 'rolloutBatch' ? settings.rolloutLatencyMs : phase === 'updatePolicy' ? settings.updateLatencyMs : 0;
    if (kind === 'corrupt-artifact') return { kind, step: rng.int(1, settings.steps - 1), phase, delayMs: 0 };
    // Within the simulated latency when the phase has one (so the fault lands mid-activity), else up to 60 ms.
    return { kind, step: rng.int(0, settings.steps - 1), phase, delayMs: rng.int(0, slow > 0 ? Math.round(slow * 0.8) : 60) };
  });
}

type ChaosConfig = RunConfigInput & { runId: string; taskQueues: Record<WorkerPool, string> };

function chaosConfig(settings: ChaosSettings, runId: string, queues: Record<WorkerPool, string>): ChaosConfig {
  return {
    env: 'bandit',
    runId,
    taskQueues: queues,
    steps: settings.steps,
    seed: settings.seed,
    tasksPerStep: settings.tasksPerStep,
    groupSize: settings.groupSize,
    rolloutShards: 2,
    learningRate: 2,
    bandit: { arms: 6, tasks: 8, worldSeed: 5, rolloutLatencyMs: settings.rolloutLatencyMs, updateLatencyMs: settings.updateLatencyMs },
    timeouts: { activityStartToClose: '30s', activityHeartbeat: `${settings.heartbeatMs}ms`, retryInitialInterval: '200ms', retryMaximumInterval: '1s' },
  };
}

// --- what a run leaves behind ---

interface TrajectoryRow {
  key: string;
  content: string;
}

export interface RunRows {
  /** The step rows: step -> its content (policy version, reward, trajectory count). */
  steps: Map<number, string>;
  stepRowCount: number;
  trajectories: Map<string, string>;
  trajectoryRowCount: number;
  finalCheckpoint?: { version: number; sha256: string };
}

async function rowsOf(stack: ChaosStack, database: DatabaseKind, runId: string): Promise<RunRows> {
  const { db } = stack.databases[database];
  const steps = (
    await db.execute(sql`select step, policy_version, mean_reward, trajectories from steps where run_id = ${runId} order by step`)
  ).rows as { step: number; policy_version: number; mean_reward: number; trajectories: number }[];
  const trajectories = (
    await db.execute(
      sql`select step || '/' || "group" || '/' || sample as key, concat_ws('|', task_id, policy_version, reward, success, artifact_sha256) as content
          from trajectories where run_id = ${runId}`,
    )
  ).rows as unknown as TrajectoryRow[];
  const checkpoint = await latestCheckpoint(db, runId);
  return {
    steps: new Map(steps.map((s) => [s.step, `${s.policy_version}|${s.mean_reward}|${s.trajectories}`])),
    stepRowCount: steps.length,
    trajectories: new Map(trajectories.map((t) => [t.key, t.content])),
    trajectoryRowCount: trajectories.length,
    finalCheckpoint: checkpoint && { version: checkpoint.version, sha256: checkpoint.sha256 },
  };
}

/** Rows of `run` against the baseline's (only the baseline's steps below `upToStep` when given). */
export function compareRows(run: RunRows, baseline: RunRows, upToStep = Infinity) {
  const expectedSteps = [...baseline.steps].filter(([step]) => step < upToStep);
  const expectedTrajectories = [...baseline.trajectories].filter(([key]) => Number(key.split('/')[0]) < upToStep);
  const lost = expectedSteps.filter(([step]) => !run.steps.has(step)).length + expectedTrajectories.filter(([key]) => !run.trajectories.has(key)).length;
  const duplicated = run.stepRowCount - run.steps.size + (run.trajectoryRowCount - run.trajectories.size);
  const differing =
    expectedSteps.filter(([step, content]) => run.steps.has(step) && run.steps.get(step) !== content).length +
    expectedTrajectories.filter(([key, content]) => run.trajectories.has(key) && run.trajectories.get(key) !== content).length;
  const extra = [...run.steps.keys()].filter((s) => s >= upToStep || !baseline.steps.has(s)).length;
  return { lost, duplicated, differing, extra };
}

// --- history: retries and recovery ---

interface HistoryFacts {
  /** `activityType@attempt` for every attempt after the first. */
  retries: string[];
  /** End times of completed tasks with their start time and queue: activities, and workflow tasks (queue 'workflow'). */
  completions: { startedAt: number; completedAt: number; queue: string; type: string }[];
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => (t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0);

/** Every execution of the run: its continue-as-new chain and its evaluation children (all carry RatchetRunId). */
async function historyOf(stack: ChaosStack, workflowId: string, runId: string): Promise<HistoryFacts> {
  const facts: HistoryFacts = { retries: [], completions: [] };
  const executions = new Map<string, string>();
  for (const query of [`WorkflowId = '${workflowId}'`, `RatchetRunId = '${runId}'`]) {
    for await (const execution of stack.client.workflow.list({ query })) executions.set(execution.runId, execution.workflowId);
  }
  for (const [executionRunId, id] of executions) {
    const history = await stack.client.workflow.getHandle(id, executionRunId).fetchHistory();
    const scheduled = new Map<string, { type: string; queue: string }>();
    const started = new Map<string, number>();
    for (const event of history.events ?? []) {
      const eventId = String(event.eventId);
      const at = ms(event.eventTime);
      const s = event.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(eventId, { type: s.activityType?.name ?? '?', queue: s.taskQueue?.name ?? '?' });
      const st = event.activityTaskStartedEventAttributes;
      if (st) {
        started.set(eventId, at);
        if ((st.attempt ?? 1) > 1) facts.retries.push(`${scheduled.get(String(st.scheduledEventId))?.type}@${st.attempt}`);
      }
      const done = event.activityTaskCompletedEventAttributes;
      if (done) {
        const info = scheduled.get(String(done.scheduledEventId));
        facts.completions.push({ startedAt: started.get(String(done.startedEventId)) ?? at, completedAt: at, queue: info?.queue ?? '?', type: info?.type ?? '?' });
      }
      if (event.workflowTaskStartedEventAttributes) started.set(eventId, at);
      if (event.workflowTaskTimedOutEventAttributes) facts.retries.push('workflowTask@timedOut');
      if (event.workflowTaskFailedEventAttributes) facts.retries.push('workflowTask@failed');
      const wft = event.workflowTaskCompletedEventAttributes;
      if (wft) facts.completions.push({ startedAt: started.get(String(wft.startedEventId)) ?? at, completedAt: at, queue: 'workflow', type: 'workflowTask' });
    }
  }
  return facts;
}

/**
 * Injection to the first completion of work begun once the faulted part was back (`resumedAt`): on the killed or
 * stopped pool's queue for worker faults, a workflow task for the control worker, any activity for services and disk.
 */
function recoveryMs(facts: HistoryFacts, point: ChaosPoint, queues: Record<WorkerPool, string>, injectedAt: number, resumedAt: number): number | undefined {
  const queue = point.kind === 'sigkill-control' ? 'workflow' : point.kind === 'sigkill-gpu' ? queues.gpu : point.kind.endsWith('-cpu') ? queues.cpu : undefined;
  const after = facts.completions
    .filter((c) => c.startedAt >= resumedAt - 5 && c.completedAt > injectedAt && (queue ? c.queue === queue : c.queue !== 'workflow'))
    .map((c) => c.completedAt);
  return after.length ? Math.min(...after) - injectedAt : undefined;
}

function tempFilesUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.tmp')).length;
}

// --- injection ---

async function progressOf(handle: WorkflowHandle): Promise<Progress | undefined> {
  try {
    return (await handle.query('progress')) as Progress;
  } catch {
    return undefined; // the server may be restarting, or the run closed
  }
}

/** Wait until the run is at or past (step, phase); undefined when it ended first. */
async function reach(handle: WorkflowHandle, point: ChaosPoint, settings: ChaosSettings, done: () => boolean): Promise<Progress | undefined> {
  const target = point.step * PHASES.length + PHASES.indexOf(point.phase);
  while (!done()) {
    const p = await progressOf(handle);
    if (p) {
      const at = p.step >= settings.steps ? Infinity : PHASES.includes(p.phase) ? p.step * PHASES.length + PHASES.indexOf(p.phase) : p.step * PHASES.length - 1;
      if (at === Infinity) return undefined;
      if (at >= target) return p;
    }
    await sleep(15);
  }
  return undefined;
}

interface Injected {
  injectedAt: number;
  /** When the faulted part was back: the replacement worker started, the service answered, the disk had room. */
  resumedAt: number;
  /** Where the run really was when the fault landed. */
  at: string;
  note?: string;
  /** sigstop: the frozen worker's log, where the SDK reports the server refusing its late completions. */
  zombieLog?: string;
}

/** Flip bytes in the middle of the published policy of `point.step` as soon as it is written, before that step loads it. */
async function corruptWhenWritten(stack: ChaosStack, runId: string, point: ChaosPoint, done: () => boolean): Promise<Injected | undefined> {
  const file = join(stack.artifactsDir, ...artifactKeys.banditVersion(runId, 'policy', point.step).split('/'));
  while (!existsSync(file)) {
    if (done()) return undefined;
    await sleep(2);
  }
  const bytes = readFileSync(file);
  for (let i = 0; i < 8; i++) bytes[Math.floor(bytes.length / 2) + i] ^= 0x5a;
  writeFileSync(file, bytes);
  const now = Date.now();
  return { injectedAt: now, resumedAt: now, at: `policy v${point.step} written (end of step ${point.step - 1})`, note: file };
}

/**
 * restart-postgres in the middle of recordStep's writes: lock the steps table just before the step records, wait
 * until recordStep (its trajectory rows written) waits to write the step row, then restart Postgres under it.
 */
async function holdRecordStep(stack: ChaosStack, workers: WorkerSet, handle: WorkflowHandle, point: ChaosPoint, settings: ChaosSettings, done: () => boolean): Promise<Injected | undefined> {
  const progress = await reach(handle, { ...point, phase: 'syncWeights' }, settings, done);
  if (!progress) return undefined;
  const lock = await stack.lockTable('steps');
  try {
    const deadline = Date.now() + 30_000;
    while (!done() && Date.now() < deadline && (await lock.blockedWriters()) === 0) await sleep(10);
    await sleep(point.delayMs);
    const now = (await progressOf(handle)) ?? progress;
    const injected = await inject(stack, workers, handle, point, settings, now);
    return { ...injected, at: `${injected.at} (step row write held by a lock)` };
  } finally {
    await lock.release();
  }
}

/** Whether an activity of the run is pending after a failed attempt whose error mentions `text`. */
async function failedWith(handle: WorkflowHandle, text: string): Promise<boolean> {
  const pending = await handle.describe().then((d) => d.raw.pendingActivities ?? [], () => []);
  return pending.some((a) => (a.lastFailure?.message ?? '').includes(text));
}

async function eventuallyTrue(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(20);
  }
  return false;
}

async function inject(stack: ChaosStack, workers: WorkerSet, handle: WorkflowHandle, point: ChaosPoint, settings: ChaosSettings, progress: Progress): Promise<Injected> {
  const at = `step ${progress.step} ${progress.phase}`;
  const injectedAt = Date.now();
  switch (point.kind) {
    case 'sigkill-cpu':
    case 'sigkill-gpu':
    case 'sigkill-control': {
      const pool = point.kind.slice('sigkill-'.length) as WorkerPool;
      await workers.kill(pool);
      // A supervisor would start it again at once; the replacement's start-up counts toward recovery.
      await workers.start(pool);
      return { injectedAt, resumedAt: injectedAt, at };
    }
    case 'sigstop-cpu': {
      const zombie = workers.current('cpu');
      zombie.kill('SIGSTOP');
      // A stand-in polls the queue while the zombie is frozen; the zombie wakes after its attempts timed out.
      await workers.start('cpu');
      await sleep(Math.max(0, injectedAt + settings.heartbeatMs + 1500 - Date.now()));
      zombie.kill('SIGCONT');
      return { injectedAt, resumedAt: injectedAt, at, note: `stopped ${Date.now() - injectedAt} ms`, zombieLog: workers.logs.get(zombie) };
    }
    case 'restart-temporal':
    case 'restart-postgres':
    case 'restart-pglite': {
      const restart = { 'restart-temporal': () => stack.restartTemporal(settings.downMs), 'restart-postgres': () => stack.restartPostgres(settings.downMs), 'restart-pglite': () => stack.restartPglite(settings.downMs) };
      const { stoppedAt, upAt } = await restart[point.kind]();
      return { injectedAt, resumedAt: upAt, at, note: `stopped after ${stoppedAt - injectedAt} ms, answering again after ${upAt - injectedAt} ms` };
    }
    case 'disk-full': {
      stack.fillDisk();
      // Full until a write has failed with ENOSPC (at most 15 s), then `downMs` more, then room again.
      const failed = await eventuallyTrue(() => failedWith(handle, 'ENOSPC'), 15_000);
      await sleep(settings.downMs);
      stack.freeDisk();
      return { injectedAt, resumedAt: Date.now(), at, note: failed ? `full for ${Date.now() - injectedAt} ms` : 'no write failed while the disk was full' };
    }
    case 'corrupt-artifact':
      throw new Error('corrupt-artifact is injected by corruptWhenWritten');
  }
}

// --- one run ---

export interface ChaosOutcome {
  point: ChaosPoint;
  runId: string;
  fired: boolean;
  at?: string;
  /** completed | failed | hung */
  status: 'completed' | 'failed' | 'hung';
  /** The failure chain's messages, for a failed run. */
  failure?: string;
  /** For corrupt-artifact: the run failed non-retryably (the activity that met the bad bytes ran once) with a sha256 message. */
  refusedCorruption?: boolean;
  retries: string[];
  lost: number;
  duplicated: number;
  differing: number;
  extra: number;
  checkpointEqual: boolean;
  finalCheckpoint?: { version: number; sha256: string };
  recoveryMs?: number;
  /** Partial `*.tmp` files the run left in the artifact store (failed writes that were not cleaned up). */
  leftoverTempFiles: number;
  /** sigstop: late completions of the woken zombie that the server refused (its attempt had timed out). */
  lateCompletionsRefused?: number;
  wallMs: number;
  note?: string;
}

export interface Baseline {
  settings: ChaosSettings;
  rows: RunRows;
  wallMs: number;
}

/** The fault-free reference, on the Debian Postgres (rows and checkpoints do not depend on the database). */
export async function runBaseline(stack: ChaosStack, settings: ChaosSettings): Promise<Baseline> {
  const workers = await stack.workersFor('postgres');
  const config = chaosConfig(settings, `chaos-baseline-${randomUUID().slice(0, 8)}`, workers.queues);
  const started = Date.now();
  const handle = await stack.client.workflow.start('trainingRun', { taskQueue: workers.queues.control, workflowId: `train-${config.runId}`, args: [config] });
  const result = (await handle.result()) as TrainingRunResult;
  if (result.status !== 'completed') throw new Error(`chaos baseline did not complete: ${JSON.stringify(result)}`);
  return { settings, rows: await rowsOf(stack, 'postgres', config.runId), wallMs: Date.now() - started };
}

/** Wait for the run's result through server restarts; 'hung' after `timeoutMs`. */
async function outcomeOf(handle: WorkflowHandle, timeoutMs: number): Promise<{ status: 'completed' | 'failed' | 'hung'; failure?: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), deadline - Date.now())));
    try {
      const result = (await Promise.race([handle.result(), timeout])) as TrainingRunResult | 'timeout';
      if (result === 'timeout') break;
      return { status: result.status === 'completed' ? 'completed' : 'failed', failure: result.status === 'completed' ? undefined : `status ${result.status}` };
    } catch (err) {
      if (err instanceof WorkflowFailedError) return { status: 'failed', failure: causeChain(err) };
      await sleep(500); // the server is away (restart): ask again
    } finally {
      clearTimeout(timer);
    }
  }
  return { status: 'hung' };
}

function causeChain(err: unknown): string {
  const parts: string[] = [];
  type Failure = Error & { cause?: unknown; type?: string; nonRetryable?: boolean; retryState?: string };
  for (let e = err as Failure | undefined; e; e = e.cause as Failure | undefined) {
    // An activity given up because its error type is non-retryable says so in its retryState.
    const retry = e.retryState === 'NON_RETRYABLE_FAILURE' || e.nonRetryable ? ', non-retryable' : e.retryState ? `, ${e.retryState}` : '';
    parts.push(`${e.name}${e.type || retry ? `(${[e.type, retry.slice(2)].filter(Boolean).join(', ')})` : ''}: ${e.message}`);
  }
  return parts.join(' <- ');
}

/** One fault at `point` in a fresh run; compares with `baseline`. Leaves the stack healthy for the next point. */
export async function runChaosPoint(stack: ChaosStack, baseline: Baseline, point: ChaosPoint, runTimeoutMs = 240_000): Promise<ChaosOutcome> {
  const settings = baseline.settings;
  const database = databaseOf(point.kind);
  const workers = await stack.workersFor(database);
  const config = chaosConfig(settings, `chaos-${point.kind}-${randomUUID().slice(0, 8)}`, workers.queues);
  const workflowId = `train-${config.runId}`;
  const started = Date.now();
  const handle = await stack.client.workflow.start('trainingRun', { taskQueue: workers.queues.control, workflowId, args: [config] });
  let closed = false;
  const injection = (async (): Promise<Injected | undefined> => {
    if (point.kind === 'corrupt-artifact') return corruptWhenWritten(stack, config.runId, point, () => closed);
    if (point.kind === 'restart-postgres' && point.phase === 'recordStep') return holdRecordStep(stack, workers, handle, point, settings, () => closed);
    const progress = await reach(handle, point, settings, () => closed);
    if (!progress) return undefined;
    await sleep(point.delayMs);
    const now = (await progressOf(handle)) ?? progress;
    return inject(stack, workers, handle, point, settings, now);
  })();
  const outcome = await outcomeOf(handle, runTimeoutMs);
  closed = true;
  const injected = await injection.catch((err) => {
    throw new Error(`chaos: injecting ${point.kind} failed: ${err}`);
  });
  if (outcome.status === 'hung') await handle.terminate('chaos: hung').catch(() => undefined);

  const facts = await historyOf(stack, workflowId, config.runId);
  const rows = await rowsOf(stack, database, config.runId);
  const corrupt = point.kind === 'corrupt-artifact';
  const compared = compareRows(rows, baseline.rows, corrupt ? point.step : Infinity);
  const result: ChaosOutcome = {
    point,
    runId: config.runId,
    fired: injected !== undefined,
    at: injected?.at,
    status: outcome.status,
    failure: outcome.failure,
    retries: facts.retries,
    ...compared,
    finalCheckpoint: rows.finalCheckpoint,
    checkpointEqual: rows.finalCheckpoint?.sha256 === baseline.rows.finalCheckpoint?.sha256 && rows.finalCheckpoint?.version === baseline.rows.finalCheckpoint?.version,
    recoveryMs: injected && !corrupt ? recoveryMs(facts, point, workers.queues, injected.injectedAt, injected.resumedAt) : undefined,
    leftoverTempFiles: tempFilesUnder(join(stack.artifactsDir, 'runs', config.runId)),
    wallMs: Date.now() - started,
    note: injected?.note,
  };
  if (injected?.zombieLog && existsSync(injected.zombieLog)) {
    result.lateCompletionsRefused = readFileSync(injected.zombieLog, 'utf8').split('Activity not found on completion').length - 1;
  }
  if (corrupt) {
    // Refused: failed (not retried: the loading activity never reached attempt 2), with the sha256 named, and
    // nothing of the corrupted step recorded (no step row, no trajectory, no checkpoint past its version).
    const loadersRetried = facts.retries.some((r) => /^(rolloutBatch|scoreBatch|updatePolicy)@/.test(r));
    result.refusedCorruption =
      outcome.status === 'failed' &&
      /sha256/.test(outcome.failure ?? '') &&
      /non-retryable/.test(outcome.failure ?? '') &&
      !loadersRetried &&
      !rows.steps.has(point.step) &&
      (rows.finalCheckpoint?.version ?? 0) <= point.step;
  }
  // Leave the stack as the next point needs it: room on the disk, one running worker per pool.
  stack.freeDisk();
  await workers.ensureOne();
  return result;
}
