/** Start the three worker pools as background processes (pid and log files under .data/), reusing live ones. */
import { join } from 'node:path';
import { REPO_ROOT } from '../infra/paths';
import { isAlive, readPid, startDetached, tsxCommand } from '../infra/processes';
import { serviceLogFile, servicePidFile } from '../infra/services';

export const POOLS = ['control', 'cpu', 'gpu'] as const;

export function startWorkers(env: NodeJS.ProcessEnv, log: (line: string) => void = console.log): void {
  for (const pool of POOLS) {
    const pidFile = servicePidFile(`worker-${pool}`);
    const pid = readPid(pidFile);
    if (pid !== undefined && isAlive(pid)) {
      log(`worker ${pool}: already running (pid ${pid})`);
      continue;
    }
    const { command, args } = tsxCommand(join(REPO_ROOT, 'workers', `${pool}.ts`));
    const started = startDetached({ command, args, env, cwd: REPO_ROOT, logFile: serviceLogFile(`worker-${pool}`), pidFile });
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
