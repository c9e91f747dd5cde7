import { createDeepSearchEnvironment, DeepSearchEnvironment } from '../../../envs/deepsearch';
import { runEpisode } from '../../../envs/types';
import { TEST_CACHE_DIR } from './helpers';

const SPLITS = ['single/train', 'single/dev', 'single/test', 'multi/train', 'multi/dev', 'multi/test'];

describe('scripted expert on the default corpus', () => {
  let env: DeepSearchEnvironment;
  // One flawless expert run over every split; the tests below read its outcome.
  const outcome = new Map<string, { failures: string[]; longestContext: number; singleHopGoldInTop3: number[] }>();
  beforeAll(() => {
    env = createDeepSearchEnvironment({ cacheDir: TEST_CACHE_DIR });
    for (const split of SPLITS) {
      const result = { failures: [] as string[], longestContext: 0, singleHopGoldInTop3: [] as number[] };
      for (const task of env.tasks(split)) {
        const episode = runEpisode(env.createEpisode(task.id, 0), env.expert(task.id, { noise: 0, seed: 0 }));
        const { metrics } = episode.score();
        if (metrics.em !== 1) result.failures.push(task.id);
        result.longestContext = Math.max(result.longestContext, episode.context().length);
        // The flawless expert's single search is the hop query, so gold recall says whether gold was in its top 3.
        if (task.level === 1 && env.record(task.id).answerable) result.singleHopGoldInTop3.push(metrics.gold_passage_recall);
      }
      outcome.set(split, result);
    }
  });

  it('uses the default-sized corpus', () => {
    expect(env.corpus.length).toBeGreaterThanOrEqual(10_000);
  });

  it.each(SPLITS)('scores EM 1.0 on every question of %s, within the context budget', (split) => {
    expect(outcome.get(split)!.failures).toEqual([]);
    expect(outcome.get(split)!.longestContext).toBeLessThanOrEqual(1500);
  });

  it('finds the gold passage in the top 3 for at least 99% of single-hop expert queries', () => {
    const found = SPLITS.flatMap((s) => outcome.get(s)!.singleHopGoldInTop3);
    expect(found.length).toBeGreaterThan(1000);
    expect(found.reduce((a, b) => a + b, 0) / found.length).toBeGreaterThanOrEqual(0.99);
  });

  it('searches exactly as often as the question has hops', () => {
    const task = env.tasks('multi/test').find((t) => t.level === 4 && env.record(t.id).answerable)!;
    const episode = runEpisode(env.createEpisode(task.id, 0), env.expert(task.id, { noise: 0, seed: 0 }));
    expect(episode.score().metrics).toMatchObject({ searches: 4, turns: 5, gold_passage_recall: 1 });
  });
});

describe('noisy expert', () => {
  let env: DeepSearchEnvironment;
  beforeAll(() => {
    env = createDeepSearchEnvironment({ seed: 5, passages: 2000, cacheDir: TEST_CACHE_DIR });
  });
  const meanEm = (split: string, noise: number, seed = 0) => {
    const tasks = env.tasks(split);
    return tasks.reduce((sum, t) => sum + runEpisode(env.createEpisode(t.id, 0), env.expert(t.id, { noise, seed })).score().metrics.em, 0) / tasks.length;
  };

  it('gets worse as noise grows but still solves many questions', () => {
    for (const split of ['single/dev', 'multi/dev']) {
      const low = meanEm(split, 0.2);
      const high = meanEm(split, 1);
      expect(low).toBeLessThan(1);
      expect(high).toBeLessThan(low);
      expect(high).toBeGreaterThan(0.2);
    }
  });

  it('answers from memory at the first turn, without searching, with probability habit', () => {
    const tasks = env.tasks('single/dev');
    const guessShare = (habit: number) =>
      tasks.filter((t) => runEpisode(env.createEpisode(t.id, 0), env.expert(t.id, { noise: 0.3, habit, seed: 1 })).turns[0].action.startsWith('<answer>')).length / tasks.length;
    expect(guessShare(0)).toBe(0);
    expect(guessShare(1)).toBe(1);
    expect(Math.abs(guessShare(0.5) - 0.5)).toBeLessThan(4 * Math.sqrt(0.25 / tasks.length)); // binomial: within 4 standard errors
    expect(() => env.expert(tasks[0].id, { noise: 0, habit: 1.5, seed: 0 })).toThrow(/habit must be in \[0, 1\]/);
  });

  it('is reproducible from its seed', () => {
    const task = env.tasks('multi/dev')[3];
    const actions = (seed: number) => runEpisode(env.createEpisode(task.id, 0), env.expert(task.id, { noise: 0.7, seed })).turns.map((t) => t.action);
    expect(actions(9)).toEqual(actions(9));
  });

  it('refuses a noise outside [0, 1]', () => {
    expect(() => env.expert(env.tasks('single/dev')[0].id, { noise: 2, seed: 0 })).toThrow(/noise must be in \[0, 1\]/);
  });
});
