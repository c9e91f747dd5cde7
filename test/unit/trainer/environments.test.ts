import { ensureApplicationFailure } from '@temporalio/common';
import { NON_RETRYABLE_ERROR_TYPES } from '../../../workflows/activity-options';
import { textEnvironment } from '../../../trainer/environments';

test('a world that cannot be built from its settings fails as InvalidRunConfig (non-retryable), naming the section', () => {
  const err = (() => {
    try {
      textEnvironment('deepsearch', { deepsearch: { seed: 0, passages: 400 } });
    } catch (e) {
      return e as Error;
    }
  })();
  expect(err?.name).toBe('InvalidRunConfig');
  // The failure type Temporal records for an activity that throws it (the class name), one its retry policy stops on.
  expect(ensureApplicationFailure(err).type).toBe('InvalidRunConfig');
  expect(NON_RETRYABLE_ERROR_TYPES).toContain(ensureApplicationFailure(err).type);
  expect(err?.message).toMatch(/cannot build the deepsearch environment from the run config's deepsearch section: .*could not find 1000 distinct single\/train questions/);
});
