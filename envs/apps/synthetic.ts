/**
 * Synthetic apps tasks: the templates over fresh worlds, a stream beyond the fixed splits (issue 32).
 *
 * Candidate `index` of generator seed `g` is a pure function of (environment seed, g, index): its own world seeds
 * (labelled apart from every fixed split's), a template of the train split's picked by its own Rng, and the flawless
 * scripted expert run on it. A candidate the template finds no world for, or the expert fails, is discarded, so
 * a kept id always names an expert-solvable task and the same id rebuilds the same task in any process.
 *
 * Ids: `apps/synthetic/g<seed>/<index, 5 digits>`; the fixed splits' ids are `apps/<split>/<4 digits>`, so they
 * never collide. Only the train split's templates are used, so the held-out challenge templates stay unseen.
 */
import { Rng, hashSeed } from '../../common/random';
import { runEpisode } from '../types';
import { AppsEpisode } from './episode';
import { AppsExpert } from './expert';
import { solvedWorld } from './solution';
import { buildSplit, type AppsTask } from './tasks';
import { templateNamed } from './templates';
import { generateWorld } from './world';

export const SYNTHETIC_SPLIT = 'synthetic';
const ID_PATTERN = /^apps\/synthetic\/g(\d+)\/(\d{5})$/;
const MAX_WORLD_TRIES = 20;
/** The expert's turn budget at generation: the environment's cap (index.ts MAX_TURNS). */
const EXPERT_TURNS = 30;

export function syntheticAppsId(seed: number, index: number): string {
  return `apps/synthetic/g${seed}/${String(index).padStart(5, '0')}`;
}

/** The (seed, index) a synthetic id names, or undefined for any other id. */
export function parseSyntheticAppsId(taskId: string): { seed: number; index: number } | undefined {
  const m = ID_PATTERN.exec(taskId);
  return m ? { seed: Number(m[1]), index: Number(m[2]) } : undefined;
}

const trainTemplates = new Map<number, string[]>();
/** The templates the fixed train split draws from (sorted), for an environment seed. */
export function trainTemplatesOf(envSeed: number): string[] {
  let names = trainTemplates.get(envSeed);
  if (!names) trainTemplates.set(envSeed, (names = [...new Set(buildSplit(envSeed, 'train').map((t) => t.info.template))].sort()));
  return names;
}

/** Whether the flawless expert completes the task with every check passing. */
export function expertSolves(task: AppsTask): boolean {
  const episode = new AppsEpisode(task, 0, EXPERT_TURNS);
  runEpisode(episode, new AppsExpert(task.spec, { noise: 0, seed: 0 }, task.info.id));
  return episode.score().success;
}

/** Candidate `index` of generator `seed`: the task, or null when it is discarded (no usable world, or the expert fails). */
export function syntheticAppsTask(envSeed: number, seed: number, index: number): AppsTask | null {
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`synthetic apps seed must be an integer >= 0, got ${seed}`);
  if (!Number.isInteger(index) || index < 0 || index > 99_999) throw new Error(`synthetic apps index must be an integer in [0, 99999], got ${index}`);
  const id = syntheticAppsId(seed, index);
  const rng = new Rng(hashSeed(`apps/${envSeed}/synthetic/g${seed}/${index}`));
  const template = templateNamed(rng.pick(trainTemplatesOf(envSeed)));
  for (let attempt = 0; attempt < MAX_WORLD_TRIES; attempt++) {
    const world = generateWorld(hashSeed(`apps/${envSeed}/synthetic/g${seed}/${index}/world${attempt}`));
    const spec = template.generate(world, rng.fork(`try${attempt}`));
    if (!spec) continue;
    const task: AppsTask = {
      info: { id, split: SYNTHETIC_SPLIT, template: template.name, level: template.level, scenario: id, instruction: spec.instruction },
      world,
      spec,
      expected: solvedWorld(world, spec.steps),
    };
    return expertSolves(task) ? task : null;
  }
  return null;
}

export interface SyntheticBatch<T> {
  tasks: T[];
  /** Candidates tried, kept ones included. */
  tried: number;
  /** Candidates dropped at generation (no usable world, or the scripted expert failed the verifier). */
  discarded: number;
}

/** The first `count` kept candidates of generator `seed` (indices 0, 1, ...); throws if too many are discarded. */
export function generateAppsTasks(envSeed: number, opts: { seed: number; count: number }): SyntheticBatch<AppsTask> {
  const { seed, count } = opts;
  if (!Number.isInteger(count) || count < 0) throw new Error(`synthetic apps count must be an integer >= 0, got ${count}`);
  const tasks: AppsTask[] = [];
  let tried = 0;
  while (tasks.length < count) {
    if (tried >= 2 * count + 100) throw new Error(`synthetic apps: ${tried - tasks.length} of ${tried} candidates discarded; the templates cannot supply ${count} tasks`);
    const task = syntheticAppsTask(envSeed, seed, tried++);
    if (task) tasks.push(task);
  }
  return { tasks, tried, discarded: tried - tasks.length };
}
