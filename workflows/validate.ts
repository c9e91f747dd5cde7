/** A bad config fails the workflow at once, naming the field; it is never retried. */
import { ApplicationFailure } from '@temporalio/workflow';
import { InvalidRunConfigError, parseRunConfig, type RunConfig } from '../config/run-config';

export function validateRunConfig(rawConfig: unknown): RunConfig {
  try {
    return parseRunConfig(rawConfig);
  } catch (err) {
    if (err instanceof InvalidRunConfigError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidRunConfig', err.issues);
    throw err;
  }
}
