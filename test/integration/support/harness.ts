/**
 * What an integration test needs: a client and connection to the shared dev server, the database, an
 * artifact store, in-process workers on queues unique to the test, and a bandit config with short timeouts.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../../../common/artifacts';
import { payloadCodecs } from '../../../common/payload-codec';
import { openDatabase, type DatabaseHandle } from '../../../db/client';
import { createControlWorker } from '../../../workers/control';
import { createCpuWorker } from '../../../workers/cpu';
import { createGpuWorker } from '../../../workers/gpu';
import type { RunConfigInput } from '../../../config/run-config';

let runtimeInstalled = false;

export interface Harness {
  client: Client;
  nativeConnection: NativeConnection;
  database: DatabaseHandle;
  store: LocalArtifactStore;
  env: { temporalAddress: string; databaseUrl: string; artifactsDir: string; workflowBundle: string };
  close(): Promise<void>;
}

export async function openHarness(): Promise<Harness> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  const env = {
    temporalAddress: required('RATCHET_TEST_TEMPORAL_ADDRESS'),
    databaseUrl: required('RATCHET_TEST_DATABASE_URL'),
    artifactsDir: required('RATCHET_TEST_ARTIFACTS'),
    workflowBundle: required('RATCHET_TEST_WORKFLOW_BUNDLE'),
  };
  const connection = await Connection.connect({ address: env.temporalAddress });
  const nativeConnection = await NativeConnection.connect({ address: env.temporalAddress });
  const database = openDatabase(env.databaseUrl, 4);
  return {
    client: new Client({ connection, dataConverter: { payloadCodecs: payloadCodecs() } }),
    nativeConnection,
    database,
    store: new LocalArtifactStore(env.artifactsDir),
    env,
    async close() {
      await database.close();
      await nativeConnection.close();
      await connection.close();
    },
  };
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the integration tests through jest (global-setup provides it)`);
  return value;
}

/** A small, fast bandit config on queues unique to this run id. */
export function testConfig(overrides: Partial<RunConfigInput> = {}): RunConfigInput & { runId: string; taskQueues: { control: string; cpu: string; gpu: string } } {
  const runId = overrides.runId ?? `t-${randomUUID().slice(0, 8)}`;
  return {
    env: 'bandit',
    steps: 4,
    seed: 3,
    tasksPerStep: 4,
    groupSize: 4,
    rolloutShards: 2,
    learningRate: 2,
    timeouts: { activityStartToClose: '20s', activityHeartbeat: '5s', retryInitialInterval: '200ms', retryMaximumInterval: '1s' },
    bandit: { arms: 6, tasks: 8, worldSeed: 5 },
    ...overrides,
    runId,
    taskQueues: { control: `${runId}-control`, cpu: `${runId}-cpu`, gpu: `${runId}-gpu` },
  };
}

export type Pool = 'control' | 'cpu' | 'gpu';

/** Run the given pools in this process until `stop()`. */
export async function runWorkers(h: Harness, queues: Record<Pool, string>, pools: Pool[] = ['control', 'cpu', 'gpu']) {
  const deps = { db: h.database.db, store: h.store };
  const workers: Worker[] = [];
  for (const pool of pools) {
    if (pool === 'control') workers.push(await createControlWorker({ connection: h.nativeConnection, taskQueue: queues.control, workflowBundle: { codePath: h.env.workflowBundle } }));
    if (pool === 'cpu') workers.push(await createCpuWorker({ connection: h.nativeConnection, deps, taskQueue: queues.cpu }));
    if (pool === 'gpu') workers.push(await createGpuWorker({ connection: h.nativeConnection, deps, taskQueue: queues.gpu }));
  }
  const running = workers.map((w) => w.run());
  return {
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(running);
    },
  };
}

/** Poll until `check` returns a value (not undefined), or fail after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, pollMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
