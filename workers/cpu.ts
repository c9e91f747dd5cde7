/** The cpu pool: task selection, rollouts, reward checks, advantages and records. Applies migrations at start. */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createCpuActivities, type ActivityDeps } from '../activities';
import { configRefInterceptors } from '../activities/config-ref';
import { activityObserver } from './observability/activity-observer';
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { migrateDatabase, openDatabase } from '../db/client';
import { payloadCodecs } from '../common/payload-codec';
import { exitOnError, runWorkerProcess } from './run-worker';
import { workerSettings } from './settings';

export interface ActivityWorkerOptions {
  connection: NativeConnection;
  deps: ActivityDeps;
  namespace?: string;
  taskQueue?: string;
}

export async function createCpuWorker(options: ActivityWorkerOptions): Promise<Worker> {
  const settings = workerSettings();
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? settings.namespace,
    dataConverter: { payloadCodecs: payloadCodecs() },
    taskQueue: options.taskQueue ?? settings.taskQueues.cpu,
    interceptors: { activity: [...configRefInterceptors(options.deps.store).activity, activityObserver(options.deps.db)] },
    activities: createCpuActivities(options.deps),
    maxConcurrentActivityTaskExecutions: 16,
    shutdownGraceTime: '5s',
  });
}

if (require.main === module) {
  runWorkerProcess('cpu', async (connection) => {
    const settings = workerSettings();
    const database = openDatabase(settings.databaseUrl);
    await migrateDatabase(database);
    const deps = { db: database.db, store: artifactStoreFromEnv() };
    return { worker: await createCpuWorker({ connection, deps }), close: database.close };
  }).catch(exitOnError);
}
