/**
 * Synthetic DeepSearch questions: new answerable chains of 1-3 hops over the generated encyclopedia (issue 32).
 *
 * Candidate `index` of generator seed `g` draws its hop count and its random walk from its own Rng, so the same
 * (world, g) gives byte-identical questions. Each candidate is checked at generation by running the flawless
 * scripted expert in a real episode over the BM25 index: it is kept only if the expert's answer is an exact match
 * and its hop queries retrieved every hop's gold passage (the question is solvable by searching this corpus).
 * Candidates that fail, repeat a fixed split's question or an earlier candidate's, or whose walk dead-ends are
 * discarded and counted.
 *
 * Ids: `deepsearch/synthetic/g<seed>/<index, 5 digits>`; the fixed splits' ids are `deepsearch/<family>/<split>/<4
 * digits>`, so they never collide. The question wording is the fixed splits' ("What is the X of the Y of Z?").
 */
import { Rng, hashSeed } from '../../common/random';
import { runEpisode, type TaskInfo } from '../types';
import { renderCorpus, type RenderedCorpus } from './corpus';
import { DeepSearchEpisode, type EpisodeSettings } from './episode';
import type { DeepSearchEnvironment } from './environment';
import { scriptedExpert } from './expert';
import type { Hop, QaRecord } from './questions';
import type { Bm25Index } from './search';
import { RELATIONS, factAnswers, factText, relationsOf, type Entity, type Relation, type World } from './world';

export const SYNTHETIC_SPLIT = 'synthetic';
export const DEFAULT_HOPS: readonly number[] = [1, 2, 3];

/** What generation reads: the world and its rendered corpus, the search index, and the fixed splits' questions. */
export interface SyntheticSource {
  world: World;
  corpus: RenderedCorpus;
  index: Bm25Index;
  /** Question texts a synthetic question must not repeat (every fixed split's, held-out ones included). */
  exclude: ReadonlySet<string>;
  /** The episode the expert is checked in (its maxTurns must allow hops + 1 actions). */
  settings: EpisodeSettings;
}

/** The source of a generated-corpus environment; a loaded corpus has no world to walk, so it is refused. */
export function syntheticSourceOf(env: DeepSearchEnvironment, settings: EpisodeSettings): SyntheticSource {
  if (!env.world) throw new Error('deepsearch synthetic questions need the generated world; a loaded corpus has none');
  const exclude = new Set(env.splits().flatMap((s) => env.tasks(s).map((t) => t.instruction)));
  return { world: env.world, corpus: renderCorpus(env.world), index: env.index, exclude, settings };
}

export function syntheticDeepSearchId(seed: number, index: number): string {
  return `deepsearch/synthetic/g${seed}/${String(index).padStart(5, '0')}`;
}

/** "What is the genre of the publisher of X?": the last relation is asked about, earlier ones nest inward. */
function questionText(relations: Relation[], subject: string): string {
  return `What is the ${relations.slice().reverse().map((r) => RELATIONS[r].phrase).join(' of the ')} of ${subject}?`;
}

/** A walk of `hops` facts from a random entity that never revisits one; null when it dead-ends. */
function walk(world: World, rng: Rng, hops: number): { start: Entity; relations: Relation[] } | null {
  const start = rng.pick(world.entities);
  const visited = new Set([start.id]);
  const relations: Relation[] = [];
  let current = start;
  for (let i = 0; i < hops; i++) {
    const last = i === hops - 1;
    const options = relationsOf(current.kind).filter((r) => {
      const value = current.facts[r];
      if (!value) return false;
      if ('entity' in value) return !visited.has(value.entity);
      return last; // a literal (year, genre ...) can only end the chain
    });
    if (options.length === 0) return null;
    const relation = rng.pick(options);
    relations.push(relation);
    const value = current.facts[relation]!;
    if ('entity' in value) {
      visited.add(value.entity);
      if (!last) current = world.byId.get(value.entity)!;
    }
  }
  return { start, relations };
}

function recordOf(source: SyntheticSource, id: string, start: Entity, relations: Relation[]): QaRecord {
  const { world, corpus } = source;
  const hops: Hop[] = [];
  let current = start;
  let answers: string[] = [];
  for (const relation of relations) {
    const value = current.facts[relation]!;
    hops.push({ query: `${current.name} ${RELATIONS[relation].phrase}`, answer: factText(world, value), passageId: corpus.factPassage.get(`${current.id}/${relation}`) });
    answers = factAnswers(world, value);
    if ('entity' in value) current = world.byId.get(value.entity)!;
  }
  return {
    id,
    question: questionText(relations, start.name),
    goldenAnswers: answers,
    answerable: true,
    family: relations.length === 1 ? 'single' : 'multi',
    hopCount: relations.length,
    template: `${relations.length}hop:${relations.join('>')}`,
    subject: start.id,
    hops,
  };
}

export function taskInfoOf(record: QaRecord): TaskInfo {
  return { id: record.id, split: SYNTHETIC_SPLIT, template: record.template, level: record.hopCount, scenario: record.subject, instruction: record.question };
}

/** The verifier check: the flawless expert answers exactly and its searches retrieve every hop's gold passage. */
export function expertSolves(source: SyntheticSource, record: QaRecord): boolean {
  const episode = new DeepSearchEpisode(taskInfoOf(record), record, source.index, source.settings);
  runEpisode(episode, scriptedExpert(record, { noise: 0, seed: 0 }, { answers: [], bridges: [] }));
  const score = episode.score();
  return score.success && score.metrics.gold_passage_recall === 1;
}

export interface SyntheticQuestions {
  records: QaRecord[];
  /** Candidates tried, kept ones included. */
  tried: number;
  /** Candidates dropped: the walk dead-ended, the question repeated one, or the expert check failed. */
  discarded: number;
  /** The expert-check failures among the discarded. */
  failedExpert: number;
}

/** The first `count` kept candidates of generator `seed` (indices 0, 1, ...); `hops` lists the allowed hop counts. */
export function generateDeepSearchQuestions(
  source: SyntheticSource,
  opts: { seed: number; count: number; hops?: readonly number[] },
): SyntheticQuestions {
  const { seed, count } = opts;
  const hopChoices = opts.hops ?? DEFAULT_HOPS;
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`synthetic deepsearch seed must be an integer >= 0, got ${seed}`);
  if (!Number.isInteger(count) || count < 0) throw new Error(`synthetic deepsearch count must be an integer >= 0, got ${count}`);
  if (hopChoices.length === 0 || hopChoices.some((h) => !Number.isInteger(h) || h < 1 || h > 3)) {
    throw new Error(`synthetic deepsearch hops must be integers in [1, 3], got ${JSON.stringify(hopChoices)}`);
  }
  if (Math.max(...hopChoices) + 1 > source.settings.maxTurns) {
    throw new Error(`synthetic deepsearch: ${Math.max(...hopChoices)} hops need maxTurns >= ${Math.max(...hopChoices) + 1}, got ${source.settings.maxTurns}`);
  }
  const records: QaRecord[] = [];
  const seen = new Set(source.exclude);
  let tried = 0;
  let failedExpert = 0;
  while (records.length < count) {
    if (tried >= 20 * count + 1000) throw new Error(`synthetic deepsearch: only ${records.length} of ${count} questions after ${tried} candidates; use a larger corpus`);
    const index = tried++;
    const rng = new Rng(hashSeed(`deepsearch/${source.world.seed}/synthetic/g${seed}/${index}`));
    const chain = walk(source.world, rng, rng.pick(hopChoices));
    if (!chain) continue;
    const record = recordOf(source, syntheticDeepSearchId(seed, index), chain.start, chain.relations);
    if (seen.has(record.question)) continue;
    if (!expertSolves(source, record)) {
      failedExpert++;
      continue;
    }
    seen.add(record.question);
    records.push(record);
  }
  return { records, tried, discarded: tried - records.length, failedExpert };
}
