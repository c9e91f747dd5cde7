/**
 * Synthetic DeepSearch questions (envs/deepsearch/synthetic.ts): deterministic from the seed, new (no fixed
 * split's id or question), multi-hop chains of 2-3 hops among them, and every kept question solved by the
 * scripted expert by searching: exact answer, every hop's gold passage retrieved.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Bm25Index, createDeepSearchEnvironment, DeepSearchEpisode, type QaRecord } from '../../envs/deepsearch';
import { scriptedExpert } from '../../envs/deepsearch/expert';
import { generateDeepSearchQuestions, syntheticSourceOf, taskInfoOf, type SyntheticSource } from '../../envs/deepsearch/synthetic';
import type { EpisodeSettings } from '../../envs/deepsearch/episode';
import { runEpisode } from '../../envs/types';
import { TEST_CACHE_DIR } from './deepsearch/helpers';

const SETTINGS: EpisodeSettings = { maxTurns: 5, topK: 3, snippetChars: 120, maxContextChars: 1500, formatPenalty: 0 };
const COUNT = 120;

function play(source: SyntheticSource, record: QaRecord, answer?: string) {
  const episode = new DeepSearchEpisode(taskInfoOf(record), record, source.index, source.settings);
  if (answer === undefined) runEpisode(episode, scriptedExpert(record, { noise: 0, seed: 1 }, { answers: [], bridges: [] }));
  else episode.step(`<answer>${answer}</answer>`);
  return episode.score();
}

describe('synthetic deepsearch questions', () => {
  const env = createDeepSearchEnvironment({ passages: 1000, cacheDir: TEST_CACHE_DIR });
  const source = syntheticSourceOf(env, SETTINGS);
  const batch = generateDeepSearchQuestions(source, { seed: 7, count: COUNT });

  test('the same seed gives byte-identical questions, also in another process; another seed others', () => {
    expect(batch.records).toHaveLength(COUNT);
    const text = JSON.stringify(batch.records);
    expect(JSON.stringify(generateDeepSearchQuestions(source, { seed: 7, count: COUNT }).records)).toBe(text);
    const script = `const ds = require(${JSON.stringify(join(__dirname, '../../envs/deepsearch'))});
      const env = ds.createDeepSearchEnvironment({ passages: 1000, cacheDir: ${JSON.stringify(TEST_CACHE_DIR)} });
      const out = ds.generateDeepSearchQuestions(ds.syntheticSourceOf(env, ${JSON.stringify(SETTINGS)}), { seed: 7, count: ${COUNT} });
      process.stdout.write(require('node:crypto').createHash('sha256').update(JSON.stringify(out.records)).digest('hex'));`;
    const child = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: join(__dirname, '../..'), encoding: 'utf8' });
    expect(child).toBe(require('node:crypto').createHash('sha256').update(text).digest('hex'));
    const other = generateDeepSearchQuestions(source, { seed: 8, count: COUNT }).records.map((r) => r.question);
    expect(other.filter((q) => batch.records.some((r) => r.question === q)).length).toBeLessThan(COUNT / 4);
  });

  test('ids and questions are new: none of a fixed split\'s, none repeated', () => {
    const fixed = env.splits().flatMap((s) => env.tasks(s));
    const ids = new Set(fixed.map((t) => t.id));
    const questions = new Set(fixed.map((t) => t.instruction));
    for (const r of batch.records) {
      expect(r.id).toMatch(/^deepsearch\/synthetic\/g7h123\/\d{5}$/);
      expect(ids.has(r.id)).toBe(false);
      expect(questions.has(r.question)).toBe(false);
    }
    expect(new Set(batch.records.map((r) => r.question)).size).toBe(COUNT);
  });

  test('chains of 1, 2 and 3 hops, each hop naming its gold passage; `hops` restricts the counts', () => {
    const counts = new Set(batch.records.map((r) => r.hopCount));
    expect(counts).toEqual(new Set([1, 2, 3]));
    for (const r of batch.records) {
      expect(r.hops).toHaveLength(r.hopCount);
      expect(r.family).toBe(r.hopCount === 1 ? 'single' : 'multi');
      for (const h of r.hops) expect(h.passageId).toBeDefined();
      // Each hop bridges from the previous hop's answer.
      r.hops.slice(1).forEach((h, i) => expect(h.query.startsWith(`${r.hops[i].answer} `)).toBe(true));
    }
    const multi = generateDeepSearchQuestions(source, { seed: 7, count: 30, hops: [2, 3] }).records;
    expect(new Set(multi.map((r) => r.hopCount))).toEqual(new Set([2, 3]));
    const long = generateDeepSearchQuestions(source, { seed: 7, count: 20, hops: [4] }).records;
    expect(long.every((r) => r.hopCount === 4 && r.id.startsWith('deepsearch/synthetic/g7h4/'))).toBe(true);
    expect(() => generateDeepSearchQuestions(source, { seed: 7, count: 1, hops: [5] })).toThrow(/hops must be integers in \[1, 4\]/);
    expect(() => generateDeepSearchQuestions({ ...source, settings: { ...SETTINGS, maxTurns: 3 } }, { seed: 7, count: 1, hops: [3] })).toThrow(/3 hops need maxTurns >= 4/);
  });

  test('every kept question is solved by the expert through search; a wrong answer fails it', () => {
    for (const r of batch.records) {
      const score = play(source, r);
      expect(score.success).toBe(true);
      expect(score.metrics.gold_passage_recall).toBe(1);
      expect(play(source, r, 'certainly not this').success).toBe(false);
    }
  });

  test('the environment resolves a generated id in a fresh instance to the same question; a discarded one is refused', () => {
    const fresh = createDeepSearchEnvironment({ passages: 1000, cacheDir: TEST_CACHE_DIR });
    const sample = batch.records.filter((_, i) => i % 10 === 0);
    for (const r of sample.reverse()) {
      expect(fresh.record(r.id)).toEqual(r); // resolved out of order: the candidates before it are replayed
      expect(fresh.task(r.id)).toEqual(taskInfoOf(r));
      const episode = fresh.createEpisode(r.id, 0);
      expect(runEpisode(episode, fresh.expert(r.id, { noise: 0, seed: 2 })).score().success).toBe(true);
    }
    expect(fresh.syntheticTasks(7, COUNT, [3, 1, 2]).map((t) => t.id)).toEqual(batch.records.map((r) => r.id));
    const keptIndices = new Set(batch.records.map((r) => Number(r.id.slice(-5))));
    const discarded = Array.from({ length: batch.tried }, (_, i) => i).find((i) => !keptIndices.has(i))!;
    expect(() => fresh.task(`deepsearch/synthetic/g7h123/${String(discarded).padStart(5, '0')}`)).toThrow(/was discarded at generation/);
    expect(() => fresh.task('deepsearch/synthetic/g7/00001')).toThrow(/unknown task id/);
  });

  test('discards are counted: over an index missing passages the expert check discards what search cannot reach', () => {
    expect(batch.tried).toBe(COUNT + batch.discarded);
    // Every third passage left out of the index: a question needing one of them is not solvable by searching.
    const partial = { ...source, index: Bm25Index.open(env.corpus.filter((_, i) => i % 3 !== 0), null) };
    const hard = generateDeepSearchQuestions(partial, { seed: 7, count: 60 });
    expect(hard.failedExpert).toBeGreaterThan(10);
    expect(hard.discarded).toBeGreaterThanOrEqual(hard.failedExpert);
    expect(hard.tried).toBe(60 + hard.discarded);
    const missing = new Set(env.corpus.filter((_, i) => i % 3 === 0).map((p) => p.id));
    for (const r of hard.records) {
      expect(r.hops.some((h) => missing.has(h.passageId!))).toBe(false);
      expect(play(partial, r).success).toBe(true);
    }
  });
});
