/**
 * The worker pools of bench/pipeline.ts as child processes (workers/<pool>.ts) on the bench's own queues, so
 * the Temporal run pays what a deployment pays: separate processes, each loading its own policy and states.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir, REPO_ROOT } from '../infra/paths';
import { tsxCommand } from '../infra/processes';

export type Queues = { control: string; cpu: string; gpu: string };

export const workerLogFile = (name: string) => join(dataDir(), 'logs', `bench-pipeline-${name}.log`);

/** Start one worker of `pool`; resolves once it says it is ready. Logs go to .data/logs/bench-pipeline-<name>.log. */
export async function startWorker(pool: 'control' | 'cpu' | 'gpu', name: string, queues: Queues, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const logDir = join(dataDir(), 'logs');
  mkdirSync(logDir, { recursive: true });
  const queueEnv = { RATCHET_CONTROL_QUEUE: queues.control, RATCHET_CPU_QUEUE: queues.cpu, RATCHET_GPU_QUEUE: queues.gpu };
  const { command, args } = tsxCommand(join(REPO_ROOT, 'workers', `${pool}.ts`));
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...env, ...queueEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logFile = workerLogFile(name);
  const log = createWriteStream(logFile);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`worker ${name} exited (code ${code}) before it was ready; see ${logFile}`)));
  });
  return child;
}

export async function stopWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => new Promise((resolve) => (w.exitCode !== null ? resolve(null) : (w.once('exit', resolve), w.kill('SIGTERM'))))));
}
