/** Worker settings from the environment, with the local defaults. */
import { DEFAULT_TASK_QUEUES } from '../config/run-config';
import { artifactsDir } from '../infra/paths';
import { databaseUrl } from '../db/client';
import { temporalTarget } from '../common/temporal-connection';

export function workerSettings() {
  const temporal = temporalTarget();
  return {
    temporalAddress: temporal.address,
    namespace: temporal.namespace,
    /** TLS / API key included: see common/temporal-connection.ts. */
    connectionOptions: temporal.connectionOptions,
    databaseUrl: databaseUrl(),
    artifactsDir: artifactsDir(),
    taskQueues: {
      control: process.env.RATCHET_CONTROL_QUEUE || DEFAULT_TASK_QUEUES.control,
      cpu: process.env.RATCHET_CPU_QUEUE || DEFAULT_TASK_QUEUES.cpu,
      gpu: process.env.RATCHET_GPU_QUEUE || DEFAULT_TASK_QUEUES.gpu,
    },
  };
}
