import fc from 'fast-check';
import { createDeepSearchEnvironment, DeepSearchEnvironment, randomAgent } from '../../../envs/deepsearch';
import { runEpisode } from '../../../envs/types';
import { TEST_CACHE_DIR } from './helpers';

describe('DeepSearch episodes', () => {
  let env: DeepSearchEnvironment;
  beforeAll(() => {
    env = createDeepSearchEnvironment({ seed: 11, passages: 2000, cacheDir: TEST_CACHE_DIR });
  });
  const answerable = (split: string, hops: number) => env.tasks(split).find((t) => env.record(t.id).answerable && t.level === hops)!;

  it('names its splits and describes every task', () => {
    expect(env.name).toBe('deepsearch');
    expect(env.actionStops).toEqual(['</search>', '</answer>']);
    expect(env.splits()).toEqual(['single/train', 'single/dev', 'single/test', 'multi/train', 'multi/dev', 'multi/test']);
    const task = env.tasks('multi/dev')[0];
    expect(env.task(task.id)).toBe(task);
    expect(task.level).toBe(env.record(task.id).hopCount);
    expect(() => env.task('nope')).toThrow(/unknown task id/);
    expect(() => env.tasks('nope')).toThrow(/unknown split/);
  });

  it('answers a search with an information block and ends on an answer', () => {
    const task = answerable('single/dev', 1);
    const record = env.record(task.id);
    const episode = env.createEpisode(task.id, 0);
    expect(episode.initialObservation).toContain(`Question: ${record.question}`);
    const searched = episode.step(`Let me look. <search>${record.hops[0].query}</search>`);
    expect(searched.error).toBe(false);
    expect(searched.done).toBe(false);
    expect(searched.observation).toMatch(/^\n<information>Doc 1 \(Title: [^)]+\) .+<\/information>\n$/s);
    expect(searched.observation).toContain(record.goldenAnswers[0]);
    const answered = episode.step(`<answer>${record.goldenAnswers[0]}</answer>`);
    expect(answered.done).toBe(true);
    expect(episode.finishReason).toBe('completed');
    const score = episode.score();
    expect(score).toMatchObject({ reward: 1, success: true });
    expect(score.metrics).toMatchObject({ em: 1, f1: 1, cover_em: 1, answered: 1, searches: 1, errors: 0, gold_passage_recall: 1 });
  });

  it('turns malformed output into an error observation with a hint', () => {
    const episode = env.createEpisode(env.tasks('single/dev')[0].id, 0);
    const result = episode.step('I think the answer is Paris');
    expect(result).toMatchObject({ error: true, done: false });
    expect(result.observation).toContain('<search>query</search>');
    expect(episode.turns[0].error).toBe(true);
  });

  it('stops at the turn limit and scores no answer as 0', () => {
    const episode = env.createEpisode(env.tasks('single/dev')[0].id, 0, { maxTurns: 2 });
    episode.step('<search>a</search>');
    expect(episode.step('<search>b</search>').done).toBe(true);
    expect(episode.finishReason).toBe('max_turns');
    expect(episode.score()).toMatchObject({ reward: 0, success: false });
    expect(episode.step('<answer>late</answer>')).toMatchObject({ done: true, error: true });
    expect(episode.turns).toHaveLength(2);
    expect(() => env.createEpisode(episode.task.id, 0, { maxTurns: 99 })).toThrow(/maxTurns/);
  });

  it('applies the optional format penalty to a correct answer after a malformed turn', () => {
    const strict = createDeepSearchEnvironment({ seed: 11, passages: 2000, cacheDir: TEST_CACHE_DIR, formatPenalty: 0.2 });
    const task = strict.tasks('single/dev').find((t) => strict.record(t.id).answerable)!;
    const episode = strict.createEpisode(task.id, 0);
    episode.step('hmm');
    episode.step(`<answer>${strict.record(task.id).goldenAnswers[0]}</answer>`);
    expect(episode.score().reward).toBeCloseTo(0.8, 12);
    expect(episode.score().metrics).toMatchObject({ em: 1, format_ok: 0 });
  });

  it('scores the golden "unknown" on unanswerable questions', () => {
    const task = env.tasks('single/dev').find((t) => !env.record(t.id).answerable)!;
    const wrong = env.createEpisode(task.id, 0);
    wrong.step('<answer>Varen Falls</answer>');
    expect(wrong.score().metrics).toMatchObject({ em: 0, answerable: 0, said_unknown: 0 });
    const right = env.createEpisode(task.id, 0);
    right.step('<answer>Unknown.</answer>');
    expect(right.score().metrics).toMatchObject({ em: 1, said_unknown: 1 });
  });

  it('keeps the context within budget and marks which text is observation', () => {
    const task = answerable('multi/dev', 4);
    const episode = runEpisode(env.createEpisode(task.id, 0), env.expert(task.id, { noise: 0, seed: 0 }));
    const context = episode.context();
    expect(context.length).toBeLessThanOrEqual(1500);
    const segments = (episode as ReturnType<DeepSearchEnvironment['createEpisode']>).segments();
    expect(segments.map((s) => s.text).join('')).toBe(context);
    expect(segments[0].kind).toBe('prompt');
    for (const s of segments.filter((s) => s.kind === 'action')) expect(s.text).not.toContain('<information>');
    for (const s of segments.filter((s) => s.kind === 'observation')) expect(s.text).toContain('<information>');
    // the newest information block is shown whole
    expect(context).toContain(episode.turns[episode.turns.length - 2].observation);
  });

  it('never throws on 10,000 fuzzed outputs', () => {
    const tags = fc.constantFrom('<search>', '</search>', '<answer>', '</answer>', '<information>', '<', '>', '/', '\n', '\u0000', '😀');
    const action = fc.array(fc.oneof(fc.string(), fc.fullUnicodeString({ maxLength: 8 }), tags), { maxLength: 8 }).map((parts) => parts.join(''));
    const tasks = env.tasks('multi/dev');
    let steps = 0;
    fc.assert(
      fc.property(fc.nat(tasks.length - 1), fc.array(action, { minLength: 1, maxLength: 6 }), (t, actions) => {
        const episode = env.createEpisode(tasks[t].id, 0);
        for (const a of actions) {
          const result = episode.step(a);
          steps++;
          expect(typeof result.observation).toBe('string');
          if (result.done) break;
        }
        const score = episode.score();
        expect(score.reward).toBeGreaterThanOrEqual(0);
        expect(score.reward).toBeLessThanOrEqual(1);
        expect(episode.context().length).toBeGreaterThan(0);
      }),
      { numRuns: 4000, seed: 42 },
    );
    expect(steps).toBeGreaterThanOrEqual(10_000);
  });

  it('scores a random policy below 0.02 EM', () => {
    for (const split of ['single/test', 'multi/test']) {
      const tasks = env.tasks(split);
      const em = tasks.reduce((sum, t, i) => sum + runEpisode(env.createEpisode(t.id, 0), randomAgent(i)).score().metrics.em, 0);
      expect(em / tasks.length).toBeLessThan(0.02);
    }
  });
});
