/**
 * A worker process's logs and metrics, set up before its first connection: the Temporal runtime logs through
 * pino, and with `RATCHET_METRICS_PORT` set, Core's Prometheus exporter runs on loopback and the worker serves
 * training + SDK metrics on its own port (see metrics-server.ts).
 */
import { Runtime } from '@temporalio/worker';
import { initProcessLogger, TemporalPinoLogger, type PinoLogger } from './logger';
import { startMetricsServer } from './metrics-server';
import { trainingMetrics } from './training-metrics';

/** Each pool's offset from the base port, so one host's pools never collide (control 9464, cpu 9465 ...). */
const POOL_OFFSET: Record<string, number> = { control: 0, cpu: 1, gpu: 2, torch: 3 };
/** Core's exporter listens this far above the worker's port, on 127.0.0.1 only. */
export const SDK_PORT_OFFSET = 1000;

/** The port the pool serves /metrics on: `RATCHET_METRICS_PORT` (a base) plus the pool's offset; unset = off. */
export function metricsPort(pool: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.RATCHET_METRICS_PORT;
  if (!raw) return undefined;
  const base = Number(raw);
  if (!Number.isInteger(base) || base <= 0 || base + (POOL_OFFSET[pool] ?? 0) + SDK_PORT_OFFSET > 65535) {
    throw new Error(`RATCHET_METRICS_PORT must be a port number leaving room for ${SDK_PORT_OFFSET} above it, got ${JSON.stringify(raw)}`);
  }
  return base + (POOL_OFFSET[pool] ?? 0);
}

export interface Observability {
  logger: PinoLogger;
  metricsPort?: number;
  close(): Promise<void>;
}

export async function setUpObservability(pool: string): Promise<Observability> {
  const logger = initProcessLogger({ pool });
  const port = metricsPort(pool);
  const sdkAddress = port === undefined ? undefined : `127.0.0.1:${port + SDK_PORT_OFFSET}`;
  Runtime.install({
    logger: new TemporalPinoLogger(logger),
    telemetryOptions: {
      logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
      ...(sdkAddress ? { metrics: { prometheus: { bindAddress: sdkAddress }, globalTags: { pool } } } : {}),
    },
  });
  if (port === undefined) return { logger, close: async () => {} };
  const server = await startMetricsServer({ port, registry: trainingMetrics.registry, sdkAddress });
  logger.info({ metricsPort: port }, `metrics at http://localhost:${port}/metrics`);
  return { logger, metricsPort: port, close: server.close };
}
