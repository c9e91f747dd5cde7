/**
 * Start the worker pools as background processes (pid and log files under .data/), reusing live ones: control,
 * cpu and gpu always, and with `torch` the Python worker that trains LLM policies (infra/torch-worker.ts).
 */
import { join } from 'node:path';
import { REPO_ROOT } from '../infra/paths';
import { isAlive, readPid, startDetached, tsxCommand } from '../infra/processes';
import { serviceLogFile, servicePidFile } from '../infra/services';
import { torchWorkerCommand } from '../infra/torch-worker';

export const POOLS = ['control', 'cpu', 'gpu'] as const;

export function startWorkers(env: NodeJS.ProcessEnv, log: (line: string) => void = console.log, opts: { torch?: boolean } = {}): void {
  const pools = [...POOLS, ...(opts.torch ? (['torch'] as const) : [])];
  for (const pool of pools) {
    const pidFile = servicePidFile(`worker-${pool}`);
    const pid = readPid(pidFile);
    if (pid !== undefined && isAlive(pid)) {
      log(`worker ${pool}: already running (pid ${pid})`);
      continue;
    }
    const { command, args, env: processEnv } = pool === 'torch' ? torchWorkerCommand(env) : { ...tsxCommand(join(REPO_ROOT, 'workers', `${pool}.ts`)), env };
    const started = startDetached({ command, args, env: processEnv, cwd: REPO_ROOT, logFile: serviceLogFile(`worker-${pool}`), pidFile });
    log(`worker ${pool}: started (pid ${started}, log ${serviceLogFile(`worker-${pool}`)})`);
  }
}

/** Pools whose process has died (so a caller waiting on a run can say why it is not moving). */
export function deadWorkers(): string[] {
  return POOLS.filter((pool) => {
    const pid = readPid(servicePidFile(`worker-${pool}`));
    return pid === undefined || !isAlive(pid);
  });
}
