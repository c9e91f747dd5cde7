/** Timeouts and retries of every activity a run schedules, by the activity's kind, from its config (tests shorten them). */
import type { ActivityOptions } from '@temporalio/workflow';
import type { RunConfig } from '../config/run-config';
import { KIND_OF_ACTIVITY, type ActivityName } from '../config/timeouts';

type Duration = ActivityOptions['startToCloseTimeout'];

/**
 * Failures that the same input fails again on, so retrying cannot fix them: they end the run at once, with the cause.
 * An activity's error type is its class name, in TypeScript and in the Python worker alike.
 */
export const NON_RETRYABLE_ERROR_TYPES = [
  // Ratchet's own: a config that cannot run, a missing environment, a run id taken, content whose sha256 is wrong.
  'InvalidRunConfig',
  'NotImplemented',
  'RunIdInUse',
  'ArtifactIntegrityError',
  'CheckpointIntegrityError',
  // Programming errors, TypeScript: a bug fails every attempt the same way.
  'TypeError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
  'AssertionError',
  // ... and Python (the torch worker); a CUDA out-of-memory or an OSError stays retryable.
  'AttributeError',
  'KeyError',
  'IndexError',
  'NameError',
  'ValueError',
  'ZeroDivisionError',
  'NotImplementedError',
  'ModuleNotFoundError',
  'ImportError',
];

export function activityOptions(config: RunConfig, activity: ActivityName): ActivityOptions {
  const { timeouts } = config;
  const limits = timeouts.kinds[KIND_OF_ACTIVITY[activity]];
  return {
    startToCloseTimeout: limits.startToClose as Duration,
    ...(limits.heartbeat ? { heartbeatTimeout: limits.heartbeat as Duration } : {}),
    ...(limits.scheduleToClose ? { scheduleToCloseTimeout: limits.scheduleToClose as Duration } : {}),
    retry: {
      initialInterval: timeouts.retryInitialInterval as Duration,
      maximumInterval: timeouts.retryMaximumInterval as Duration,
      backoffCoefficient: timeouts.backoffCoefficient,
      maximumAttempts: limits.maximumAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  };
}
