/** One line saying why a run failed, for its Postgres row and `ratchet status`: the activity, the error's type and message. */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TemporalFailure, TimeoutFailure } from '@temporalio/common';

export function describeFailure(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  while (current instanceof TemporalFailure) {
    if (current instanceof ActivityFailure) parts.push(`${current.activityType} (${retryState(current.retryState)})`);
    else if (current instanceof ChildWorkflowFailure) parts.push(`child ${current.execution.workflowId}`);
    else if (current instanceof ApplicationFailure) parts.push(`${current.type ?? 'Error'}: ${current.message}`);
    else if (current instanceof TimeoutFailure) parts.push(`${current.timeoutType ?? 'timeout'}: ${current.message}`);
    else parts.push(current.message);
    if (!current.cause) break;
    current = current.cause;
  }
  if (!(current instanceof TemporalFailure)) parts.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
  return parts.join(' ← ').slice(0, 2000);
}

function retryState(state: unknown): string {
  const names: Record<string, string> = {
    NON_RETRYABLE_FAILURE: 'not retryable',
    MAXIMUM_ATTEMPTS_REACHED: 'attempts exhausted',
    TIMEOUT: 'timed out',
  };
  return names[String(state)] ?? String(state ?? 'failed').toLowerCase();
}
