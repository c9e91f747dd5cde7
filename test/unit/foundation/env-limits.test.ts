/** The numbers config/env-limits.ts holds for the schema are the ones the environments actually have. */
import { APPS_SPLIT_SIZES, DEEPSEARCH_MIN_PASSAGES, DEEPSEARCH_SPLIT_SIZES, MAX_TURNS } from '../../../config/env-limits';
import { createAppsEnvironment, MAX_TURNS as APPS_MAX_TURNS } from '../../../envs/apps';
import { createDeepSearchEnvironment, DEFAULT_SPLIT_SIZES } from '../../../envs/deepsearch';

test('apps: every split has its fixed size, whatever the world seed', () => {
  for (const seed of [1, 2]) {
    const env = createAppsEnvironment({ seed });
    expect(Object.fromEntries(env.splits().map((split) => [split, env.tasks(split).length]))).toEqual(APPS_SPLIT_SIZES);
    expect(env.maxTurns).toBe(MAX_TURNS.apps);
  }
  expect(APPS_MAX_TURNS).toBe(MAX_TURNS.apps);
});

test('deepsearch: the smallest corpus the schema allows holds every split at its fixed size', () => {
  expect(DEFAULT_SPLIT_SIZES).toEqual(DEEPSEARCH_SPLIT_SIZES);
  for (const seed of [0, 1, 2]) {
    const env = createDeepSearchEnvironment({ seed, passages: DEEPSEARCH_MIN_PASSAGES, cacheDir: null });
    const sizes = Object.fromEntries(env.splits().map((split) => [split, env.tasks(split).length]));
    expect(sizes).toEqual(Object.fromEntries(['single', 'multi'].flatMap((family) => Object.entries(DEEPSEARCH_SPLIT_SIZES).map(([s, n]) => [`${family}/${s}`, n]))));
    expect(env.maxTurns).toBe(MAX_TURNS.deepsearch);
  }
});
