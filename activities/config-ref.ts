/**
 * The run config by reference. recordRun stores the validated config once as an artifact; every later activity input
 * carries `configRef` (its key and sha256) instead of the config, so a step's history holds ids and refs only. The
 * worker's inbound interceptor puts the config back before the activity runs, verified by its hash and cached.
 */
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { getJson, putJson, sha256, type ArtifactRef, type ArtifactStore } from '../common/artifacts';
import { artifactKeys } from '../common/artifact-keys';
import type { RunConfig } from '../config/run-config';

export async function storeConfig(store: ArtifactStore, config: RunConfig): Promise<ArtifactRef> {
  const key = artifactKeys.config(config.runId, sha256(JSON.stringify(config)));
  return putJson(store, key, config);
}

/** Loads configs by reference, each hash once per process (a worker serves few runs at a time). */
export class ConfigLoader {
  private readonly cache = new Map<string, Promise<RunConfig>>();

  constructor(private readonly store: ArtifactStore, private readonly capacity = 64) {}

  load(ref: ArtifactRef): Promise<RunConfig> {
    let config = this.cache.get(ref.sha256);
    if (!config) {
      if (this.cache.size >= this.capacity) this.cache.delete(this.cache.keys().next().value!);
      config = getJson<RunConfig>(this.store, ref);
      config.catch(() => this.cache.delete(ref.sha256)); // a failed read is retried by the next attempt, not cached
      this.cache.set(ref.sha256, config);
    }
    return config;
  }
}

/** The worker side: an input `{ configRef, ... }` becomes `{ config, ... }` before the activity sees it. */
export class ConfigRefInbound implements ActivityInboundCallsInterceptor {
  constructor(private readonly loader: ConfigLoader) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const [first, ...rest] = input.args;
    if (!isByReference(first)) return next(input);
    const { configRef, ...fields } = first;
    return next({ ...input, args: [{ ...fields, config: await this.loader.load(configRef) }, ...rest] });
  }
}

function isByReference(arg: unknown): arg is { configRef: ArtifactRef } {
  return typeof arg === 'object' && arg !== null && 'configRef' in arg && !('config' in arg);
}

/** Interceptors for Worker.create: `interceptors: configRefInterceptors(store)`. */
export function configRefInterceptors(store: ArtifactStore) {
  const loader = new ConfigLoader(store);
  return { activity: [() => ({ inbound: new ConfigRefInbound(loader) })] };
}
