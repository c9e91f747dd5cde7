/**
 * The AppWorld-style personal-assistant environment (DESIGN section 6, issue 3).
 * Seven apps plus `supervisor` and `api_docs`, one API call per turn, state-based verification.
 */
import type { Agent, Environment, TaskInfo } from '../types';
import { AppsEpisode } from './episode';
import { AppsExpert, type AppsExpertOptions } from './expert';
import type { SkillLibrary } from './skills';
import { SPLITS, buildSplit, hashTasks, type AppsTask, type Split } from './tasks';
import { parseSyntheticAppsId, syntheticAppsTask } from './synthetic';
import { generateWorld, worldHash as hashWorld, type World } from './world';

export { tgc, sgc, type TaskOutcome } from './metrics';
export { randomAgent } from './random-agent';
export { AppsEpisode, CONTEXT_TURNS, CONTEXT_OBS_CHARS } from './episode';
export { APPS, allApis } from './apis';
export { TEMPLATES } from './templates';
export { SkillLibrary, type SkillLibraryJSON } from './skills';
export type { SkillUse, SkillCallRecord } from './skills-runtime';
export type { AppsExpertOptions } from './expert';
export { generateAppsTasks, syntheticAppsId, SYNTHETIC_SPLIT } from './synthetic';

export const DEFAULT_SEED = 1;
export const MAX_TURNS = 30;

/** Builds (once per seed) and holds every split's tasks. */
class TaskStore {
  private readonly splits = new Map<Split, AppsTask[]>();
  private readonly byId = new Map<string, AppsTask>();

  constructor(readonly seed: number) {}

  split(name: string): AppsTask[] {
    if (!(SPLITS as readonly string[]).includes(name)) {
      throw new Error(`unknown apps split "${name}"; expected one of ${SPLITS.join(', ')}`);
    }
    let tasks = this.splits.get(name as Split);
    if (!tasks) {
      tasks = buildSplit(this.seed, name as Split);
      this.splits.set(name as Split, tasks);
      for (const t of tasks) this.byId.set(t.info.id, t);
    }
    return tasks;
  }

  get(taskId: string): AppsTask {
    const split = /^apps\/([a-z_]+)\/\d{4}$/.exec(taskId)?.[1];
    if (split && (SPLITS as readonly string[]).includes(split)) this.split(split);
    const synthetic = parseSyntheticAppsId(taskId);
    if (synthetic && !this.byId.has(taskId)) {
      const made = syntheticAppsTask(this.seed, synthetic.seed, synthetic.index);
      if (!made) throw new Error(`apps task "${taskId}" was discarded at generation (no usable world, or the scripted expert fails it)`);
      this.byId.set(taskId, made);
    }
    const task = this.byId.get(taskId);
    if (!task) throw new Error(`unknown apps task id "${taskId}" (ids look like apps/train/0007 or apps/synthetic/g0/00012)`);
    return task;
  }
}

const stores = new Map<number, TaskStore>();
function store(seed: number): TaskStore {
  let s = stores.get(seed);
  if (!s) stores.set(seed, (s = new TaskStore(seed)));
  return s;
}

/**
 * The apps environment as its own callers see it: episodes are `AppsEpisode`s (privileged world view, skill
 * library and skill use), a chain passes the previous task's library in, and the expert takes the skills option.
 * Still an `Environment`, so generic code is unaffected.
 */
export interface AppsEnvironment extends Environment {
  createEpisode(taskId: string, seed: number, opts?: { maxTurns?: number; skills?: SkillLibrary }): AppsEpisode;
  expert(taskId: string, opts: AppsExpertOptions): Agent;
}

export function createAppsEnvironment(opts: { seed?: number } = {}): AppsEnvironment {
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed)) throw new Error(`apps environment seed must be an integer, got ${seed}`);
  const tasks = store(seed);
  return {
    name: 'apps',
    maxTurns: MAX_TURNS,
    actionStops: ['\n'],
    splits: () => [...SPLITS],
    tasks: (split: string): TaskInfo[] => tasks.split(split).map((t) => t.info),
    task: (taskId: string): TaskInfo => tasks.get(taskId).info,
    /** `skills`: the library the previous task of a chain returned; the episode's own copy is `episode.skills`. */
    createEpisode(taskId: string, episodeSeed: number, o?: { maxTurns?: number; skills?: SkillLibrary }): AppsEpisode {
      const maxTurns = o?.maxTurns ?? MAX_TURNS;
      if (!Number.isInteger(maxTurns) || maxTurns < 1 || maxTurns > MAX_TURNS) {
        throw new Error(`maxTurns must be an integer in [1, ${MAX_TURNS}], got ${maxTurns}`);
      }
      return new AppsEpisode(tasks.get(taskId), episodeSeed, maxTurns, o?.skills);
    },
    expert: (taskId: string, o: AppsExpertOptions): Agent => new AppsExpert(tasks.get(taskId).spec, o, taskId),
  };
}

/** Hash of the world generated from `seed` (or of a given world). */
export function worldHash(seedOrWorld: number | World): string {
  return hashWorld(typeof seedOrWorld === 'number' ? generateWorld(seedOrWorld) : seedOrWorld);
}

/** Hash of every split's tasks for an environment seed. */
export function tasksHash(seed = DEFAULT_SEED): string {
  return hashTasks(SPLITS.flatMap((s) => store(seed).split(s)));
}
