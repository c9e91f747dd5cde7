/** Timeouts and retry pacing of every activity a run schedules, from its config (tests shorten them). */
import type { ActivityOptions } from '@temporalio/workflow';
import type { RunConfig } from '../config/run-config';

type Duration = ActivityOptions['startToCloseTimeout'];

export function activityOptions(config: RunConfig): ActivityOptions {
  return {
    startToCloseTimeout: config.timeouts.activityStartToClose as Duration,
    heartbeatTimeout: config.timeouts.activityHeartbeat as Duration,
    retry: {
      initialInterval: config.timeouts.retryInitialInterval as Duration,
      maximumInterval: config.timeouts.retryMaximumInterval as Duration,
      nonRetryableErrorTypes: ['InvalidRunConfig', 'NotImplemented', 'ArtifactIntegrityError'],
    },
  };
}
