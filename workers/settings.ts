/** Worker settings from the environment, with the local defaults. */
import { DEFAULT_TASK_QUEUES } from '../config/run-config';
import { artifactsDir } from '../infra/paths';
import { databaseUrl } from '../db/client';

export function workerSettings() {
  return {
    temporalAddress: process.env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    namespace: process.env.TEMPORAL_NAMESPACE || 'default',
    databaseUrl: databaseUrl(),
    artifactsDir: artifactsDir(),
    taskQueues: {
      control: process.env.RATCHET_CONTROL_QUEUE || DEFAULT_TASK_QUEUES.control,
      cpu: process.env.RATCHET_CPU_QUEUE || DEFAULT_TASK_QUEUES.cpu,
      gpu: process.env.RATCHET_GPU_QUEUE || DEFAULT_TASK_QUEUES.gpu,
    },
  };
}
