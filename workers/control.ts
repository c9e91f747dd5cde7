/** The control pool: runs workflows only (the training loop), never activities. */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { payloadCodecs } from '../common/payload-codec';
import { exitOnError, runWorkerProcess } from './run-worker';
import { workerSettings } from './settings';

export interface ControlWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** A prebuilt bundle (tests bundle once); by default the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createControlWorker(options: ControlWorkerOptions): Promise<Worker> {
  const settings = workerSettings();
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? settings.namespace,
    dataConverter: { payloadCodecs: payloadCodecs() },
    taskQueue: options.taskQueue ?? settings.taskQueues.control,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
  });
}

if (require.main === module) {
  runWorkerProcess('control', async (connection) => ({ worker: await createControlWorker({ connection }) })).catch(exitOnError);
}
