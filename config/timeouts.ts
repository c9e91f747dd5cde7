/**
 * Activity timeouts and retries, by kind of activity. Every field is optional in the input; the parsed config holds
 * each kind's resolved values (so a parsed config parses to itself). Defaults are sized from measured durations on
 * 2 cores with headroom (README "Timeouts and retries"); an llm policy's work takes minutes where the built-in
 * policy's takes seconds.
 */
import { z } from 'zod';

/** A Temporal duration string such as `500ms`, `30s`, `2m`, `1h`. */
export const duration = z.string().regex(/^\d+(ms|s|m|h)$/, 'expected a duration like "500ms", "30s", "2m" or "1h"');

export const ACTIVITY_KINDS = ['bookkeeping', 'rollout', 'score', 'update', 'sync', 'init', 'evaluate'] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

/** Which kind each activity is. */
export const KIND_OF_ACTIVITY = {
  recordRun: 'bookkeeping',
  selectTasks: 'bookkeeping',
  checkRewards: 'bookkeeping',
  computeAdvantages: 'bookkeeping',
  recordStep: 'bookkeeping',
  recordEvaluation: 'bookkeeping',
  rolloutBatch: 'rollout',
  scoreBatch: 'score',
  updatePolicy: 'update',
  syncWeights: 'sync',
  writeDemonstrations: 'init',
  initPolicy: 'init',
  evaluatePolicy: 'evaluate',
} as const satisfies Record<string, ActivityKind>;
export type ActivityName = keyof typeof KIND_OF_ACTIVITY;

const KindLimitsSchema = z.strictObject({
  startToClose: duration.optional(),
  /** Absent: no heartbeat timeout (bookkeeping activities do not heartbeat). */
  heartbeat: duration.optional(),
  /** All attempts together; absent = no bound beyond maximumAttempts. */
  scheduleToClose: duration.optional(),
  /** 0 = unlimited (Temporal's convention). */
  maximumAttempts: z.int().min(0).max(1000).optional(),
});
export type KindLimits = z.output<typeof KindLimitsSchema>;

export const TimeoutsSchema = z.strictObject({
  /** One start-to-close for every kind that does not set its own (what configs before per-kind limits wrote). */
  activityStartToClose: duration.optional(),
  /** One heartbeat timeout for every kind that does not set its own. */
  activityHeartbeat: duration.optional(),
  retryInitialInterval: duration.default('1s'),
  retryMaximumInterval: duration.default('30s'),
  backoffCoefficient: z.number().min(1).max(10).default(2),
  /**
   * Attempts per activity unless its kind says otherwise; 0 = unlimited. An error retrying cannot fix (a bad input,
   * a checksum mismatch, a programming error) is not retried at all (workflows/activity-options.ts); this caps the rest.
   */
  maximumAttempts: z.int().min(0).max(1000).default(20),
  kinds: z.strictObject(Object.fromEntries(ACTIVITY_KINDS.map((kind) => [kind, KindLimitsSchema.optional()])) as Record<ActivityKind, z.ZodOptional<typeof KindLimitsSchema>>).prefault({}),
});

/** [startToClose, heartbeat] by kind: [builtin, llm]. */
const DEFAULTS: Record<ActivityKind, [[string, string | undefined], [string, string | undefined]]> = {
  bookkeeping: [['2m', undefined], ['10m', undefined]],
  rollout: [['15m', '30s'], ['60m', '2m']],
  score: [['10m', '30s'], ['60m', '2m']],
  update: [['30m', '30s'], ['120m', '2m']],
  sync: [['5m', '30s'], ['30m', '2m']],
  // A base SFT (built-in) or a format SFT plus the first ONNX export (llm) runs inside initPolicy.
  init: [['120m', '1m'], ['180m', '5m']],
  evaluate: [['30m', '30s'], ['180m', '2m']],
};

type TimeoutsInput = z.output<typeof TimeoutsSchema>;

/** Fill each kind's limits: its own values, else the run-wide ones, else the kind's default for the policy. */
export function resolveTimeouts(timeouts: TimeoutsInput, llm: boolean) {
  const kinds = {} as Record<ActivityKind, KindLimits & { startToClose: string; maximumAttempts: number }>;
  for (const kind of ACTIVITY_KINDS) {
    const own = timeouts.kinds[kind] ?? {};
    const [startToClose, heartbeat] = DEFAULTS[kind][llm ? 1 : 0];
    kinds[kind] = {
      startToClose: own.startToClose ?? timeouts.activityStartToClose ?? startToClose,
      ...optional('heartbeat', own.heartbeat ?? timeouts.activityHeartbeat ?? heartbeat),
      ...optional('scheduleToClose', own.scheduleToClose),
      maximumAttempts: own.maximumAttempts ?? timeouts.maximumAttempts,
    };
  }
  return { ...timeouts, kinds };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
