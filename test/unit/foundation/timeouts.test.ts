import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure } from '@temporalio/common';
import { parseRunConfig } from '../../../config/run-config';
import { ACTIVITY_KINDS } from '../../../config/timeouts';
import { activityOptions, NON_RETRYABLE_ERROR_TYPES } from '../../../workflows/activity-options';
import { describeFailure } from '../../../workflows/failure';

const deepsearch = { runId: 't', env: 'deepsearch', steps: 2 };
const llm = { kind: 'llm', model: 'smollm2-135m-instruct' };

describe('activity timeouts and retries by kind', () => {
  it('defaults by kind and policy: minutes for the built-in policy, hours for an llm (SFT, CPU updates); bookkeeping has no heartbeat', () => {
    const builtin = parseRunConfig(deepsearch).timeouts.kinds;
    expect(builtin.bookkeeping).toEqual({ startToClose: '2m', maximumAttempts: 20 });
    expect(builtin.update).toEqual({ startToClose: '30m', heartbeat: '30s', maximumAttempts: 20 });
    expect(builtin.init).toMatchObject({ startToClose: '120m', heartbeat: '1m' });
    const large = parseRunConfig({ ...deepsearch, agent: { policy: llm } }).timeouts.kinds;
    expect(large.init).toMatchObject({ startToClose: '180m', heartbeat: '5m' });
    expect(large.rollout).toMatchObject({ startToClose: '60m', heartbeat: '2m' });
    for (const kind of ACTIVITY_KINDS) expect(large[kind].startToClose).toBeDefined();
  });

  it("a kind's own values win over the run-wide ones, which win over the defaults; a parsed config parses to itself", () => {
    const config = parseRunConfig({
      ...deepsearch,
      timeouts: { activityStartToClose: '10m', activityHeartbeat: '5s', maximumAttempts: 3, kinds: { update: { startToClose: '1h', maximumAttempts: 0, scheduleToClose: '2h' } } },
    });
    expect(config.timeouts.kinds.update).toEqual({ startToClose: '1h', heartbeat: '5s', scheduleToClose: '2h', maximumAttempts: 0 });
    expect(config.timeouts.kinds.rollout).toEqual({ startToClose: '10m', heartbeat: '5s', maximumAttempts: 3 });
    expect(parseRunConfig(config).timeouts).toEqual(config.timeouts);
  });

  it('refuses unknown kinds, bad durations and negative attempts, naming the field', () => {
    expect(() => parseRunConfig({ ...deepsearch, timeouts: { kinds: { train: {} } } })).toThrow(/timeouts\.kinds/);
    expect(() => parseRunConfig({ ...deepsearch, timeouts: { kinds: { rollout: { heartbeat: 'soon' } } } })).toThrow(/timeouts\.kinds\.rollout\.heartbeat/);
    expect(() => parseRunConfig({ ...deepsearch, timeouts: { maximumAttempts: -1 } })).toThrow(/timeouts\.maximumAttempts/);
  });

  it('each activity gets its kind\'s options; programming errors and integrity failures are not retried', () => {
    const config = parseRunConfig({ ...deepsearch, timeouts: { kinds: { update: { maximumAttempts: 4, scheduleToClose: '3h' } } } });
    expect(activityOptions(config, 'updatePolicy')).toMatchObject({
      startToCloseTimeout: '30m',
      heartbeatTimeout: '30s',
      scheduleToCloseTimeout: '3h',
      retry: { maximumAttempts: 4, backoffCoefficient: 2 },
    });
    expect(activityOptions(config, 'recordStep')).not.toHaveProperty('heartbeatTimeout');
    expect(activityOptions(config, 'initPolicy').startToCloseTimeout).toBe('120m');
    for (const type of ['TypeError', 'RangeError', 'AssertionError', 'CheckpointIntegrityError', 'ArtifactIntegrityError', 'InvalidRunConfig', 'AttributeError', 'KeyError']) {
      expect(NON_RETRYABLE_ERROR_TYPES).toContain(type);
    }
    expect(NON_RETRYABLE_ERROR_TYPES).not.toContain('Error'); // a network or database blip is retried
  });
});

describe('describeFailure', () => {
  it('names the activity, how its retries ended, and the root error', () => {
    const cause = ApplicationFailure.create({ message: "Cannot read properties of undefined (reading 'x')", type: 'TypeError' });
    const failure = new ActivityFailure('Activity task failed', 'updatePolicy', '12', RetryState.NON_RETRYABLE_FAILURE, 'worker@1', cause);
    expect(describeFailure(failure)).toBe("updatePolicy (not retryable) ← TypeError: Cannot read properties of undefined (reading 'x')");
    const timeout = new ActivityFailure('Activity task timed out', 'rolloutBatch', '3', RetryState.MAXIMUM_ATTEMPTS_REACHED, undefined, new TimeoutFailure('heartbeat', undefined, 'HEARTBEAT'));
    expect(describeFailure(timeout)).toBe('rolloutBatch (attempts exhausted) ← HEARTBEAT: heartbeat');
    expect(describeFailure(new Error('plain'))).toBe('Error: plain');
  });
});
