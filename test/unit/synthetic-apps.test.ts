/**
 * Synthetic apps tasks (envs/apps/synthetic.ts): deterministic from the seed, ids apart from the fixed splits,
 * worlds apart from theirs, and every kept task solved by the scripted expert through the environment's API
 * (which rebuilds a synthetic task from its id alone).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createAppsEnvironment } from '../../envs/apps';
import { expertSolves, generateAppsTasks, parseSyntheticAppsId, syntheticAppsId, syntheticAppsTask, trainTemplatesOf } from '../../envs/apps/synthetic';
import { SPLITS, buildSplit, type AppsTask } from '../../envs/apps/tasks';
import { canonical, worldHash } from '../../envs/apps/world';
import { runEpisode } from '../../envs/types';

const ENV_SEED = 1;
const COUNT = 60;
const digest = (tasks: AppsTask[]) => createHash('sha256').update(canonical(tasks.map((t) => ({ info: t.info, world: t.world, spec: t.spec, expected: t.expected })))).digest('hex');

describe('synthetic apps tasks', () => {
  const batch = generateAppsTasks(ENV_SEED, { seed: 3, count: COUNT });

  test('the same seed gives byte-identical tasks, also in another process; another seed gives other tasks', () => {
    expect(batch.tasks).toHaveLength(COUNT);
    expect(digest(generateAppsTasks(ENV_SEED, { seed: 3, count: COUNT }).tasks)).toBe(digest(batch.tasks));
    const script = `const { generateAppsTasks } = require(${JSON.stringify(join(__dirname, '../../envs/apps/synthetic'))});
      const { canonical } = require(${JSON.stringify(join(__dirname, '../../envs/apps/world'))});
      const t = generateAppsTasks(${ENV_SEED}, { seed: 3, count: ${COUNT} }).tasks;
      process.stdout.write(require('node:crypto').createHash('sha256').update(canonical(t.map((x) => ({ info: x.info, world: x.world, spec: x.spec, expected: x.expected })))).digest('hex'));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', cwd: join(__dirname, '../..') });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe(digest(batch.tasks));
    const other = generateAppsTasks(ENV_SEED, { seed: 4, count: COUNT }).tasks;
    expect(other.filter((t, i) => t.info.instruction === batch.tasks[i].info.instruction).length).toBeLessThan(COUNT / 4);
  });

  test('ids never collide with the fixed splits, and the worlds are fresh', () => {
    const fixed = SPLITS.flatMap((s) => buildSplit(ENV_SEED, s));
    const fixedIds = new Set(fixed.map((t) => t.info.id));
    const fixedWorlds = new Set(fixed.map((t) => worldHash(t.world)));
    for (const t of batch.tasks) {
      expect(fixedIds.has(t.info.id)).toBe(false);
      expect(fixedWorlds.has(worldHash(t.world))).toBe(false);
      expect(parseSyntheticAppsId(t.info.id)).toEqual({ seed: 3, index: parseSyntheticAppsId(t.info.id)!.index });
    }
    expect(new Set(batch.tasks.map((t) => t.info.id)).size).toBe(COUNT);
    expect(parseSyntheticAppsId('apps/train/0007')).toBeUndefined();
    expect(syntheticAppsId(12, 7)).toBe('apps/synthetic/g12/00007');
  });

  test('only the train split\'s templates, several of them, at levels 1 and 2', () => {
    const train = trainTemplatesOf(ENV_SEED);
    const used = new Set(batch.tasks.map((t) => t.info.template));
    for (const name of used) expect(train).toContain(name);
    expect(used.size).toBeGreaterThanOrEqual(8);
    expect(new Set(batch.tasks.map((t) => t.info.level))).toEqual(new Set([1, 2]));
  });

  test('every kept task is solved by the flawless expert through the environment, which rebuilds it from its id', () => {
    const env = createAppsEnvironment({ seed: ENV_SEED });
    for (const t of batch.tasks) {
      expect(env.task(t.info.id)).toEqual(t.info);
      const episode = runEpisode(env.createEpisode(t.info.id, 11), env.expert(t.info.id, { noise: 0, seed: 5 }));
      expect(episode.score().success).toBe(true);
      // A policy that completes at once fails it: the check is real.
      const lazy = env.createEpisode(t.info.id, 11);
      lazy.step('supervisor.complete_task()');
      expect(lazy.score().success).toBe(false);
    }
  });

  test('discards are counted: the kept ids skip exactly the discarded candidates', () => {
    expect(batch.tried).toBe(COUNT + batch.discarded);
    const kept = new Set(batch.tasks.map((t) => t.info.id));
    for (let index = 0; index < batch.tried; index++) {
      expect(syntheticAppsTask(ENV_SEED, 3, index) !== null).toBe(kept.has(syntheticAppsId(3, index)));
    }
  });

  test('the expert check rejects a task whose verifier the expert cannot satisfy', () => {
    const [task] = batch.tasks;
    expect(expertSolves(task)).toBe(true);
    // The same task with a ground truth the expert's moves do not produce: one more note it never writes.
    const notes = { ...task.expected.tables.notes, 999: { id: 999, title: 'Unwritten', content: 'never created' } };
    expect(expertSolves({ ...task, expected: { ...task.expected, tables: { ...task.expected.tables, notes } } })).toBe(false);
    expect(() => createAppsEnvironment({ seed: ENV_SEED }).task('apps/synthetic/g3/123456')).toThrow(/unknown apps task id/);
  });
});
