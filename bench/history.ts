/**
 * `npm run bench:history [-- --steps 2000 --every 100]`: how big a long run's Temporal history gets. Runs a bandit run
 * of `--steps` steps on the local stack (`ratchet up`'s embedded defaults, or TEMPORAL_ADDRESS / DATABASE_URL) with
 * in-process workers on queues of its own, then reads every execution of its continue-as-new chain and prints the
 * largest execution's events and bytes against Temporal's warnings (10,240 events, 10 MB) and the bytes per step.
 * Results: bench/results/history-<steps>.json; the measured figures are in README "Reliability".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Command } from 'commander';
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { payloadCodecs } from '../common/payload-codec';
import { temporalTarget } from '../common/temporal-connection';
import type { RunConfigInput } from '../config/run-config';
import { openDatabase } from '../db/client';
import { REPO_ROOT } from '../infra/paths';
import { up } from '../infra/services';
import { createControlWorker } from '../workers/control';
import { createCpuWorker } from '../workers/cpu';
import { createGpuWorker } from '../workers/gpu';

const WARN_EVENTS = 10_240;
const WARN_BYTES = 10 * 1024 * 1024;

async function main(): Promise<void> {
  const opts = new Command()
    .option('--steps <n>', 'steps of the bandit run', '2000')
    .option('--every <n>', 'continueAsNewEvery', '100')
    .parse()
    .opts<{ steps: string; every: string }>();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const stack = await up(() => undefined);
  const runId = `history-${Date.now().toString(36)}`;
  const queues = { control: `${runId}-control`, cpu: `${runId}-cpu`, gpu: `${runId}-gpu` };
  const config: RunConfigInput = {
    runId,
    env: 'bandit',
    steps: Number(opts.steps),
    continueAsNewEvery: Number(opts.every),
    tasksPerStep: 8,
    groupSize: 4,
    learningRate: 2,
    bandit: { arms: 6, tasks: 8, worldSeed: 5 },
    taskQueues: queues,
  };

  // TLS / API key / namespace from the environment, as for the workers (common/temporal-connection.ts).
  const target = temporalTarget({ address: stack.temporalAddress });
  const native = await NativeConnection.connect(target.connectionOptions);
  const connection = await Connection.connect(target.connectionOptions);
  const client = new Client({ connection, namespace: target.namespace, dataConverter: { payloadCodecs: payloadCodecs() } });
  const database = openDatabase(stack.databaseUrl, 4);
  const deps = { db: database.db, store: artifactStoreFromEnv() };
  const workers = [
    await createControlWorker({ connection: native, taskQueue: queues.control }),
    await createCpuWorker({ connection: native, deps, taskQueue: queues.cpu }),
    await createGpuWorker({ connection: native, deps, taskQueue: queues.gpu }),
  ];
  const running = workers.map((w) => w.run());
  const started = Date.now();
  const workflowId = `train-${runId}`;
  try {
    const handle = await client.workflow.start('trainingRun', { taskQueue: queues.control, workflowId, args: [config] });
    await handle.result();
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
  }
  const seconds = (Date.now() - started) / 1000;

  const executions: { runId: string; events: number; bytes: number }[] = [];
  for await (const e of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, e.runId).fetchHistory();
    executions.push({ runId: e.runId, events: history.events?.length ?? 0, bytes: proto.api.history.v1.History.encode(history).finish().length });
  }
  const total = executions.reduce((s, e) => ({ events: s.events + e.events, bytes: s.bytes + e.bytes }), { events: 0, bytes: 0 });
  const largest = executions.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const result = {
    steps: config.steps,
    continueAsNewEvery: config.continueAsNewEvery,
    seconds,
    executions: executions.length,
    largestExecution: { events: largest.events, bytes: largest.bytes, ofWarningEvents: largest.events / WARN_EVENTS, ofWarningBytes: largest.bytes / WARN_BYTES },
    perStep: { events: total.events / config.steps!, bytes: total.bytes / config.steps! },
    total,
  };
  console.log(
    `${config.steps} steps in ${seconds.toFixed(0)} s, ${executions.length} executions; largest execution ${largest.events} events ` +
      `(${(100 * result.largestExecution.ofWarningEvents).toFixed(1)}% of Temporal's ${WARN_EVENTS} warning), ${(largest.bytes / 1e6).toFixed(2)} MB ` +
      `(${(100 * result.largestExecution.ofWarningBytes).toFixed(1)}% of 10 MB); per step ${result.perStep.events.toFixed(1)} events, ${(result.perStep.bytes / 1e3).toFixed(1)} KB`,
  );
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `history-${config.steps}.json`), JSON.stringify(result, null, 2) + '\n');
  await database.close();
  await connection.close();
  await native.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
