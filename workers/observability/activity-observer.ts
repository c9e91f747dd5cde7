/**
 * An activity interceptor that turns each activity into a structured log line (run, step, activity, attempt,
 * duration, outcome) and feeds the training metrics: recordStep's row (read back from Postgres, the source of
 * truth for every env) and updatePolicy's new policy version. Observing never fails an activity.
 */
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';
import type { Context } from '@temporalio/activity';
import { and, eq } from 'drizzle-orm';
import type { Database } from '../../db/client';
import { steps } from '../../db/schema';
import { processLogger, type PinoLogger } from './logger';
import { trainingMetrics, type RunLabels, type TrainingMetrics } from './training-metrics';

/** The fields every step activity's input has (after the config-by-reference interceptor put the config back). */
interface StepActivityInput {
  runId?: string;
  step?: number;
  config?: { env?: string; algorithm?: string };
}

export class ActivityObserver implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly context: Context,
    private readonly db: Database | undefined,
    private readonly metrics: TrainingMetrics,
    private readonly logger: PinoLogger,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { activityType, attempt, workflowExecution } = this.context.info;
    const args = (input.args[0] ?? {}) as StepActivityInput;
    const log = this.logger.child({ run: args.runId, step: args.step, activity: activityType, attempt, workflowId: workflowExecution?.workflowId });
    const started = performance.now();
    log.debug('activity started');
    try {
      const result = await next(input);
      log.info({ durationMs: Math.round(performance.now() - started) }, 'activity completed');
      await this.observe(activityType, args, result, log);
      return result;
    } catch (err) {
      // The SDK logs the failure with its stack ('Activity failed'); this line adds the run and step to it.
      log.warn({ durationMs: Math.round(performance.now() - started), error: err instanceof Error ? err.message : String(err) }, 'activity attempt failed');
      throw err;
    }
  }

  private async observe(activityType: string, args: StepActivityInput, result: unknown, log: PinoLogger): Promise<void> {
    const labels = runLabels(args);
    if (!labels) return;
    try {
      if (activityType === 'updatePolicy') {
        const version = (result as { checkpoint?: { version?: number } } | undefined)?.checkpoint?.version;
        if (typeof version === 'number') this.metrics.recordPolicyVersion(labels, version);
      } else if (activityType === 'recordStep' && this.db && typeof args.step === 'number') {
        const [row] = await this.db.select().from(steps).where(and(eq(steps.runId, labels.run), eq(steps.step, args.step)));
        if (row) this.metrics.recordStep(labels, { ...row, phaseMs: phaseMsOf(row.metrics) });
      }
    } catch (err) {
      log.warn({ err }, 'could not update the training metrics');
    }
  }
}

function runLabels(args: StepActivityInput): RunLabels | undefined {
  if (!args.runId || !args.config?.env) return undefined;
  return { run: args.runId, env: args.config.env, algorithm: args.config.algorithm ?? '' };
}

function phaseMsOf(metrics: unknown): Record<string, number> {
  const phaseMs = (metrics as { phaseMs?: unknown } | null)?.phaseMs;
  if (typeof phaseMs !== 'object' || phaseMs === null) return {};
  return Object.fromEntries(Object.entries(phaseMs).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

/**
 * For Worker.create's `interceptors.activity`, after the config-by-reference interceptor (the config is needed for
 * the labels). `db` reads recorded step rows back; without it only logs and the policy version are observed.
 */
export function activityObserver(db?: Database, metrics = trainingMetrics, logger = processLogger()): ActivityInterceptorsFactory {
  return (ctx) => ({ inbound: new ActivityObserver(ctx, db, metrics, logger) });
}
