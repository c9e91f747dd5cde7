/** The text environments a run can name, built once per process per option set (worlds and indexes are costly). */
import { createAppsEnvironment } from '../envs/apps';
import { createDeepSearchEnvironment } from '../envs/deepsearch';
import type { Environment } from '../envs/types';
import { unrunnableConfig } from '../config/run-config';

export type TextEnvName = 'apps' | 'deepsearch';

export interface TextEnvOptions {
  apps?: { seed: number };
  deepsearch?: { seed: number; passages: number; cacheDir?: string };
}

const cache = new Map<string, Environment>();

export function textEnvironment(name: TextEnvName, options: TextEnvOptions = {}): Environment {
  const key = `${name}/${JSON.stringify(options[name] ?? {})}`;
  let env = cache.get(key);
  if (!env) {
    try {
      env = name === 'apps' ? createAppsEnvironment(options.apps) : createDeepSearchEnvironment(options.deepsearch);
    } catch (err) {
      throw unrunnableConfig(`cannot build the ${name} environment from the run config's ${name} section: ${(err as Error).message}`);
    }
    cache.set(key, env);
  }
  return env;
}
