/**
 * Which tasks a text agent's step trains on: the curriculum's weighting (rl/curriculum.ts) and the task source,
 * the fixed training split or a generated stream filtered to a pass-rate band (rl/task-filter.ts, issue 32).
 * Pure zod, like the rest of the run config.
 */
import { z } from 'zod';
import type { CurriculumWeighting } from '../rl/curriculum';

export const CURRICULUM_WEIGHTINGS = ['sometimes-solved', 'uniform', 'hard-with-floor'] as const;

/** The parameters each weighting reads, with their defaults; a parameter of another weighting is refused. */
const WEIGHTING_PARAMS = {
  'sometimes-solved': { learnable: 4, hardness: 1, unseen: 2, unsolved: 0.5, solved: 0.1 },
  uniform: {},
  'hard-with-floor': { floor: 0.1, unseen: 1 },
} as const satisfies Record<(typeof CURRICULUM_WEIGHTINGS)[number], Record<string, number>>;

const weight = z.number().min(0).max(1e6).optional();

/**
 * `sometimes-solved` (the default, the original table): tasks solved sometimes first, the harder the more; unseen
 * ones explored; never- and always-solved ones kept at low weights. `uniform`: every task alike.
 * `hard-with-floor`: weight max(floor, 1 − pass rate), unseen tasks `unseen`. Parameters default per weighting.
 */
export const CurriculumConfigSchema = z
  .strictObject({
    weighting: z.enum(CURRICULUM_WEIGHTINGS).default('sometimes-solved'),
    /** Recent outcomes per task that define its pass rate. */
    window: z.int().min(1).max(1024).default(8),
    learnable: weight,
    hardness: weight,
    /** sometimes-solved (default 2) and hard-with-floor (default 1). */
    unseen: weight,
    unsolved: weight,
    solved: weight,
    /** hard-with-floor: the weight of a task the policy always solves (one it never solves weighs 1). */
    floor: z.number().min(0).max(1).optional(),
  })
  .superRefine((c, ctx) => {
    const own = WEIGHTING_PARAMS[c.weighting];
    for (const key of ['learnable', 'hardness', 'unseen', 'unsolved', 'solved', 'floor'] as const) {
      if (c[key] === undefined || key in own) continue;
      const users = CURRICULUM_WEIGHTINGS.filter((w) => key in WEIGHTING_PARAMS[w]).join(', ');
      ctx.addIssue({ code: 'custom', path: [key], message: `is a parameter of weighting ${users}, not of ${c.weighting}` });
    }
  })
  .transform((c) => {
    const params = Object.fromEntries(Object.entries(WEIGHTING_PARAMS[c.weighting]).map(([k, v]) => [k, c[k as keyof typeof c] ?? v]));
    return { weighting: c.weighting, window: c.window, ...params } as ResolvedCurriculum;
  });

type ResolvedCurriculum =
  | ({ weighting: 'sometimes-solved'; window: number } & Record<keyof (typeof WEIGHTING_PARAMS)['sometimes-solved'], number>)
  | { weighting: 'uniform'; window: number }
  | { weighting: 'hard-with-floor'; window: number; floor: number; unseen: number };

/** A pass-rate band [low, high], both edges included. */
const BandSchema = z
  .strictObject({ low: z.number().min(0).max(1).default(0.1), high: z.number().min(0).max(1).default(0.9) })
  .refine((b) => b.low <= b.high, { message: 'low must be at most high' });

const SYNTHETIC_DEFAULTS = { seed: 0, pool: 512, band: { low: 0.1, high: 0.9 }, minOutcomes: 2, refreshEvery: 5 };

/**
 * `fixed` (default): the training split (`split`). `synthetic`: `pool` tasks generated from `seed` (apps: the train
 * templates over fresh worlds; deepsearch: new questions over the corpus with the training split's hop counts), each
 * solved by the scripted expert at generation; a step draws from those whose pass rate is in
 * `band` (unmeasured ones, with fewer than `minOutcomes` outcomes, included), refreshed every `refreshEvery`
 * steps, and tops up from the rest of the pool when the band holds too few.
 */
export const TaskSourceSchema = z
  .strictObject({
    source: z.enum(['fixed', 'synthetic']).default('fixed'),
    seed: z.int().min(0).optional(),
    pool: z.int().min(1).max(20_000).optional(),
    band: BandSchema.optional(),
    minOutcomes: z.int().min(1).max(1024).optional(),
    refreshEvery: z.int().min(1).max(1_000_000).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.source !== 'fixed') return;
    for (const key of Object.keys(SYNTHETIC_DEFAULTS) as (keyof typeof SYNTHETIC_DEFAULTS)[]) {
      if (t[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is a setting of source "synthetic"; the fixed split has none' });
    }
  })
  .transform((t): { source: 'fixed' } | ({ source: 'synthetic' } & typeof SYNTHETIC_DEFAULTS) => {
    if (t.source === 'fixed') return { source: 'fixed' };
    const { source: _source, ...given } = t;
    return { source: 'synthetic', ...SYNTHETIC_DEFAULTS, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  });

export type CurriculumConfig = z.output<typeof CurriculumConfigSchema>;
export type TaskSource = z.output<typeof TaskSourceSchema>;

/** The curriculum's weighting for rl/curriculum.ts; the default section gives exactly DEFAULT_CURRICULUM_WEIGHTS. */
export function curriculumWeightingOf(config: CurriculumConfig): CurriculumWeighting {
  if (config.weighting === 'uniform') return { mode: 'uniform' };
  if (config.weighting === 'hard-with-floor') return { mode: 'hard-with-floor', floor: config.floor, unseen: config.unseen };
  const { learnable, hardness, unseen, unsolved, solved } = config;
  return { learnable, hardness, unseen, unsolved, solved }; // no `mode`: the same JSON as states stored before modes
}

/** A generated stream exists for the text environments (apps tasks, deepsearch questions); the bandit has none. */
export function checkTaskSource(config: { env: string; tasksPerStep: number; tasks: TaskSource }, ctx: z.RefinementCtx): void {
  const { tasks } = config;
  if (tasks.source !== 'synthetic') return;
  if (config.env !== 'apps' && config.env !== 'deepsearch') {
    ctx.addIssue({ code: 'custom', path: ['tasks', 'source'], message: `a synthetic task stream is generated for apps and deepsearch; ${config.env} trains on its fixed split` });
  }
  if (config.tasksPerStep > tasks.pool) {
    ctx.addIssue({ code: 'custom', path: ['tasksPerStep'], message: `must be at most the ${tasks.pool} tasks of tasks.pool` });
  }
}
