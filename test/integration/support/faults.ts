/**
 * Fault injection for durability tests, environment-agnostic: the cpu and gpu pools run as real worker processes
 * (workers/cpu.ts, workers/gpu.ts), and a fault SIGKILLs one of them when the run reaches a given step and phase,
 * then starts it again. Compare a faulted run with an uninterrupted run of the same config and seed:
 *
 *   const baseline = await runUninterrupted(h, testConfig({ ...settings }));
 *   const faulted = await runWithFaults(h, testConfig({ ...settings }), [
 *     { pool: 'gpu', phase: 'updatePolicy', atStep: 1 },
 *     { pool: 'cpu', phase: 'rolloutBatch', atStep: 2 },
 *   ]);
 *   expect(faulted.finalCheckpoint.sha256).toBe(baseline.finalCheckpoint.sha256);
 *
 * For another environment, swap the config (env section, slow enough phases that a kill lands inside them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { latestCheckpoint, listSteps } from '../../../db/queries';
import { REPO_ROOT } from '../../../infra/paths';
import { tsxCommand } from '../../../infra/processes';
import { torchWorkerCommand } from '../../../infra/torch-worker';
import type { Progress, TrainingRunResult } from '../../../workflows/training-run';
import { eventually, runWorkers, type Harness, type testConfig } from './harness';

type TestConfig = ReturnType<typeof testConfig>;
export type ActivityPool = 'cpu' | 'gpu';
/** Which worker serves the gpu queue: the TypeScript one, or the Python one of LLM policies (workers/torch). */
export type GpuWorker = 'ts' | 'torch';

export interface Fault {
  pool: ActivityPool;
  /** The workflow phase (progress query) during which the kill lands, e.g. 'rolloutBatch', 'updatePolicy'. */
  phase: string;
  /** Kill in the first such phase at or after this step (0-based). */
  atStep: number;
  /** Wait this long after seeing the phase, so the activity is really running (default 300 ms). */
  delayMs?: number;
  /** How long the run may take to reach that phase (default 2 min). */
  withinMs?: number;
}

export interface RunRecord {
  result: TrainingRunResult;
  /** Step numbers of the step rows, in order. */
  steps: number[];
  trajectories: { total: number; distinct: number };
  finalCheckpoint: { version: number; sha256: string };
}

export interface FaultedRunRecord extends RunRecord {
  /** `activityType@attempt` of every activity attempt after the first, across the continue-as-new chain. */
  retries: string[];
  /** The faults that fired, in order, with the step each one hit. */
  fired: (Fault & { step: number })[];
}

/** Start one pool (or the Python torch worker) as its own process and resolve once it polls its queue. */
export function startWorkerProcess(h: Harness, pool: ActivityPool | 'control' | 'torch', queue: string, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const processEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: h.env.temporalAddress,
    DATABASE_URL: h.env.databaseUrl,
    RATCHET_ARTIFACTS_DIR: h.env.artifactsDir,
    [{ control: 'RATCHET_CONTROL_QUEUE', cpu: 'RATCHET_CPU_QUEUE', gpu: 'RATCHET_GPU_QUEUE', torch: 'RATCHET_TORCH_QUEUE' }[pool]]: queue,
    ...env,
  };
  const { command, args, env: childEnv } = pool === 'torch' ? torchWorkerCommand(processEnv) : { ...tsxCommand(join(REPO_ROOT, 'workers', `${pool}.ts`)), env: processEnv };
  const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${pool} worker did not start in 120 s:\n${output}`)), 120_000);
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      if (output.includes('worker ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (chunk) => (output += chunk));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${pool} worker exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** The facts a durability test compares: step rows, trajectory rows (total and distinct), final checkpoint. */
export async function recordOf(h: Harness, runId: string, result: TrainingRunResult): Promise<RunRecord> {
  const steps = (await listSteps(h.database.db, runId)).map((r) => r.step);
  const [counts] = (
    await h.database.db.execute(
      sql`select count(*)::int as total, count(distinct (step, "group", sample))::int as distinct from trajectories where run_id = ${runId}`,
    )
  ).rows as { total: number; distinct: number }[];
  const checkpoint = await latestCheckpoint(h.database.db, runId);
  return { result, steps, trajectories: counts, finalCheckpoint: { version: checkpoint.version, sha256: checkpoint.sha256 } };
}

/** The reference: the same config with all three pools in this process (the torch worker as its own) and no faults. */
export async function runUninterrupted(h: Harness, config: TestConfig, opts: { gpu?: GpuWorker } = {}): Promise<RunRecord> {
  const torch = opts.gpu === 'torch';
  const workers = await runWorkers(h, config.taskQueues, torch ? ['control', 'cpu'] : ['control', 'cpu', 'gpu']);
  const gpu = torch ? await startWorkerProcess(h, 'torch', config.taskQueues.gpu) : undefined;
  try {
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${config.runId}`, args: [config] });
    return await recordOf(h, config.runId, (await handle.result()) as TrainingRunResult);
  } finally {
    if (gpu) await stopProcess(gpu);
    await workers.stop();
  }
}

/** The run with real cpu and gpu worker processes, SIGKILLed and restarted as `faults` say. */
export async function runWithFaults(h: Harness, config: TestConfig, faults: Fault[], env: NodeJS.ProcessEnv = {}, opts: { gpu?: GpuWorker } = {}): Promise<FaultedRunRecord> {
  const control = await runWorkers(h, config.taskQueues, ['control']);
  const processes: Record<ActivityPool, ChildProcess | undefined> = { cpu: undefined, gpu: undefined };
  const gpuPool = opts.gpu === 'torch' ? 'torch' : 'gpu';
  try {
    [processes.cpu, processes.gpu] = await Promise.all([
      startWorkerProcess(h, 'cpu', config.taskQueues.cpu, env),
      startWorkerProcess(h, gpuPool, config.taskQueues.gpu, env),
    ]);
    const workflowId = `train-${config.runId}`;
    const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId, args: [config] });
    const fired: FaultedRunRecord['fired'] = [];
    for (const fault of faults) {
      const step = await eventually(
        `${fault.phase} at step >= ${fault.atStep}`,
        async () => {
          const p = (await h.client.workflow.getHandle(workflowId).query('progress')) as Progress;
          return p.step >= fault.atStep && p.phase === fault.phase ? p.step : undefined;
        },
        fault.withinMs ?? 120_000,
        25,
      );
      await new Promise((r) => setTimeout(r, fault.delayMs ?? 300));
      await stopProcess(processes[fault.pool]!, 'SIGKILL');
      fired.push({ ...fault, step });
      processes[fault.pool] = await startWorkerProcess(h, fault.pool === 'cpu' ? 'cpu' : gpuPool, fault.pool === 'cpu' ? config.taskQueues.cpu : config.taskQueues.gpu, env);
    }
    const result = (await handle.result()) as TrainingRunResult;

    const retries: string[] = [];
    for await (const execution of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      const history = await h.client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
      const scheduled = new Map<string, string>();
      for (const event of history.events ?? []) {
        const type = event.activityTaskScheduledEventAttributes?.activityType?.name;
        if (type) scheduled.set(String(event.eventId), type);
        const started = event.activityTaskStartedEventAttributes;
        if (started && (started.attempt ?? 1) > 1) retries.push(`${scheduled.get(String(started.scheduledEventId))}@${started.attempt}`);
      }
    }
    return { ...(await recordOf(h, config.runId, result)), retries, fired };
  } finally {
    await Promise.all([processes.cpu, processes.gpu].map((p) => p && stopProcess(p)));
    await control.stop();
  }
}
