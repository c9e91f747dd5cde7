/**
 * Structured logs: one JSON object a line (pino), so a log shipper can filter by run, step, activity and attempt.
 * The Temporal runtime's own logger (worker lifecycle, activity and workflow context loggers, forwarded Core logs)
 * goes through the same pino instance; `LOG_LEVEL` sets the level (default info).
 */
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import pino from 'pino';

export type { Logger as PinoLogger } from 'pino';

export function createLogger(fields: Record<string, unknown> = {}, destination?: pino.DestinationStream, defaultLevel = 'info'): pino.Logger {
  const options: pino.LoggerOptions = { level: (process.env.LOG_LEVEL || defaultLevel).toLowerCase(), base: { pid: process.pid, ...fields }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

const PINO_LEVEL: Record<LogLevel, pino.Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** The Temporal `Logger` interface over pino, for `Runtime.install({ logger })`. */
export class TemporalPinoLogger implements Logger {
  constructor(private readonly pino: pino.Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.pino[PINO_LEVEL[level] ?? 'info'](renameTemporalFields(meta), message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/**
 * Temporal's `runId` is the workflow execution's; ours (`run`) is the training run's. Renamed so that a query for
 * one never matches the other. Core's forwarded logs carry bigint timestamps, and the SDK's `Activity failed` an Error:
 * both made JSON-friendly.
 */
function renameTemporalFields(meta: LogMetadata | undefined): Record<string, unknown> {
  if (!meta) return {};
  const { runId, activityType, ...rest } = meta as Record<string, unknown>;
  const out: Record<string, unknown> = { ...rest };
  if (runId !== undefined) out.workflowRunId = runId;
  if (activityType !== undefined) out.activity = activityType;
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'bigint') out[key] = value.toString();
    else if (value instanceof Error) out[key] = pino.stdSerializers.err(value);
  }
  return out;
}

let shared: pino.Logger | undefined;

/** A worker process's logger (runWorkerProcess sets it up first thing), with fields for every line. */
export function initProcessLogger(fields: Record<string, unknown>): pino.Logger {
  return (shared = createLogger(fields));
}

/**
 * The process's logger. Where no worker process set one up (workers built in-process by tests and benches), the
 * embedding process owns the output: warnings and errors only, unless LOG_LEVEL says otherwise.
 */
export function processLogger(): pino.Logger {
  return (shared ??= createLogger({}, undefined, 'warn'));
}
