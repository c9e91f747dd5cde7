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
  expect(err?.message).toMatch(/cannot build the deepsearch environment from the run config's deepsearch section: .*could not find 1000 distinct single\/train questions/);
});
