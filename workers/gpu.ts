/** The gpu pool: scoring, policy updates and weight sync; one activity at a time (one update per GPU). */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createGpuActivities } from '../activities';
import { configRefInterceptors } from '../activities/config-ref';
import { activityObserver } from './observability/activity-observer';
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { migrateDatabase, openDatabase } from '../db/client';
import type { ActivityWorkerOptions } from './cpu';
import { payloadCodecs } from '../common/payload-codec';
import { exitOnError, runWorkerProcess } from './run-worker';
import { workerSettings } from './settings';

export async function createGpuWorker(options: ActivityWorkerOptions): Promise<Worker> {
  const settings = workerSettings();
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? settings.namespace,
    dataConverter: { payloadCodecs: payloadCodecs() },
    taskQueue: options.taskQueue ?? settings.taskQueues.gpu,
    interceptors: { activity: [...configRefInterceptors(options.deps.store).activity, activityObserver(options.deps.db)] },
    activities: createGpuActivities(options.deps),
    maxConcurrentActivityTaskExecutions: 1,
    // Give an in-flight update time to finish its checkpoint on a graceful stop.
    shutdownGraceTime: '30s',
  });
}

if (require.main === module) {
  runWorkerProcess('gpu', async (connection) => {
    const settings = workerSettings();
    const database = openDatabase(settings.databaseUrl);
    await migrateDatabase(database);
    const deps = { db: database.db, store: artifactStoreFromEnv() };
    return { worker: await createGpuWorker({ connection, deps }), close: database.close };
  }).catch(exitOnError);
}
