/**
 * The shared entry-point shape of the three pools: connect, build the worker, run until SIGINT/SIGTERM
 * (the Temporal runtime turns those into a graceful shutdown: stop polling, finish or cancel what is in
 * flight within the grace time), then release resources.
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { setUpObservability } from './observability/setup';
import { flagsFromArgv, flagsToEnv } from '../common/temporal-connection';
import { workerSettings } from './settings';

export interface BuiltWorker {
  worker: Worker;
  /** Release what the worker used (database pool ...), after it has stopped. */
  close?: () => Promise<void>;
}

export async function runWorkerProcess(pool: string, build: (connection: NativeConnection) => Promise<BuiltWorker>): Promise<void> {
  // `--address`, `--tls-cert` ... on the command line win over the environment, here and in the pool's own settings.
  flagsToEnv(flagsFromArgv());
  const settings = workerSettings();
  const { logger, close: closeObservability } = await setUpObservability(pool);
  const connection = await NativeConnection.connect(settings.connectionOptions);
  try {
    const { worker, close } = await build(connection);
    logger.info(`ratchet ${pool} worker ready: queue ${worker.options.taskQueue} on ${settings.temporalAddress} (pid ${process.pid})`);
    try {
      await worker.run();
    } finally {
      await close?.();
    }
    logger.info(`ratchet ${pool} worker stopped`);
  } finally {
    await connection.close();
    await closeObservability();
  }
}

export function exitOnError(err: unknown): never {
  console.error(err);
  process.exit(1);
}
