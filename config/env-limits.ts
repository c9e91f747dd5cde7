/**
 * What each environment can serve, as plain numbers, so the run config can check a config against it before any
 * activity: the workflow validates its input in the sandbox, where no world can be built. The environments fix
 * these numbers by construction (not by the world seed); test/unit/foundation/env-limits.test.ts builds them and
 * compares, so a change there fails a test here instead of a run.
 */
import type { EnvName } from './run-config';

/** Tasks per split: envs/apps/tasks.ts PLAN (scenarios x 3 variants), the same for every seed. */
export const APPS_SPLIT_SIZES = { train: 72, dev: 60, test_normal: 168, test_challenge: 99 } as const;

/** Questions per split of each family (`single/train` ...): envs/deepsearch/questions.ts DEFAULT_SPLIT_SIZES. */
export const DEEPSEARCH_SPLIT_SIZES = { train: 1000, dev: 200, test: 200 } as const;

/**
 * Fewest passages from which the generator finds the 1000 distinct single-hop train questions: measured over
 * world seeds 0-59, 800 passages never failed and 750 failed 10 seeds in 12 (700 and below: all), so 1000
 * leaves a margin whatever the seed.
 */
export const DEEPSEARCH_MIN_PASSAGES = 1000;

/** The longest episode an environment allows (`agent.sampling.maxTurns` may lower it): apps MAX_TURNS, deepsearch's maxTurns default. */
export const MAX_TURNS: Record<Exclude<EnvName, 'bandit'>, number> = { apps: 30, deepsearch: 5 };

/** Tasks in `split` of the configured environment; undefined for a split the env does not have. */
export function splitSize(config: { env: EnvName; bandit: { tasks: number } }, split: string): number | undefined {
  if (config.env === 'bandit') return config.bandit.tasks; // every bandit split has bandit.tasks tasks
  if (config.env === 'apps') return (APPS_SPLIT_SIZES as Record<string, number>)[split];
  return (DEEPSEARCH_SPLIT_SIZES as Record<string, number>)[split.split('/')[1] ?? ''];
}
