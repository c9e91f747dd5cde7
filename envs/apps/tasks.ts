/**
 * The fixed task sets: which templates each split draws from, how many scenarios, 3 variants per scenario.
 * Everything derives from the environment seed by labelled forks, so ids and contents are stable.
 *
 *   train          24 scenarios (12 level-1, 12 level-2)            = 72 tasks
 *   dev            20 scenarios (10 level-1, 10 level-2)            = 60 tasks
 *   test_normal    56 scenarios over the train templates            = 168 tasks
 *   test_challenge 33 scenarios: 24 level-3, 9 of unseen templates  = 99 tasks
 */
import { createHash } from 'node:crypto';
import { Rng, hashSeed } from '../../common/random';
import type { TaskInfo } from '../types';
import { solvedWorld } from './solution';
import { TEMPLATES, templateNamed, type TaskSpec } from './templates';
import { canonical, generateWorld, type World } from './world';

export const SPLITS = ['train', 'dev', 'test_normal', 'test_challenge'] as const;
export type Split = (typeof SPLITS)[number];
export const VARIANTS = 3;

const SEEN_L1 = TEMPLATES.filter((t) => t.level === 1 && t.name !== 'like_song').map((t) => t.name);
const SEEN_L2 = TEMPLATES.filter((t) => t.level === 2 && t.name !== 'artist_to_playlist').map((t) => t.name);
const LEVEL3 = TEMPLATES.filter((t) => t.level === 3).map((t) => t.name);

/** Scenario count per template group, per split; templates are assigned round-robin inside a group. */
const PLAN: Record<Split, [string[], number][]> = {
  train: [[SEEN_L1, 12], [SEEN_L2, 12]],
  dev: [[SEEN_L1, 10], [SEEN_L2, 10]],
  test_normal: [[[...SEEN_L1, ...SEEN_L2], 56]],
  test_challenge: [[LEVEL3, 24], [['like_song'], 4], [['artist_to_playlist'], 5]],
};

export interface AppsTask {
  info: TaskInfo;
  world: World;
  spec: TaskSpec;
  /** The state a correct solution leaves behind. */
  expected: World;
}

const MAX_TRIES = 50;

function buildTask(envSeed: number, info: Omit<TaskInfo, 'instruction'>, variant: number): AppsTask {
  const template = templateNamed(info.template);
  const scenarioRng = new Rng(hashSeed(`apps/${envSeed}/${info.scenario}`));
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const worldSeed = hashSeed(`apps/${envSeed}/${info.scenario}/v${variant}/try${attempt}`);
    const world = generateWorld(worldSeed);
    const spec = template.generate(world, scenarioRng.fork(`v${variant}/try${attempt}`));
    if (!spec) continue;
    return { info: { ...info, instruction: spec.instruction }, world, spec, expected: solvedWorld(world, spec.steps) };
  }
  throw new Error(`template ${info.template} found no usable world in ${MAX_TRIES} tries`);
}

export function buildSplit(envSeed: number, split: Split): AppsTask[] {
  const out: AppsTask[] = [];
  let scenario = 0;
  for (const [group, count] of PLAN[split]) {
    for (let k = 0; k < count; k++, scenario++) {
      const template = templateNamed(group[k % group.length]);
      const scenarioId = `apps/${split}/s${String(scenario).padStart(2, '0')}`;
      for (let v = 0; v < VARIANTS; v++) {
        const id = `apps/${split}/${String(out.length).padStart(4, '0')}`;
        out.push(buildTask(envSeed, { id, split, template: template.name, level: template.level, scenario: scenarioId }, v));
      }
    }
  }
  return out;
}

/** sha256 over every split's tasks (info, world, solution): the determinism tests compare it. */
export function hashTasks(tasks: AppsTask[]): string {
  const h = createHash('sha256');
  for (const t of tasks) h.update(canonical({ info: t.info, world: t.world, spec: t.spec }));
  return h.digest('hex');
}
