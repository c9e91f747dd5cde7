/**
 * Synthetic DeepSearch questions: new answerable chains of 1-4 hops over the generated encyclopedia (issue 32).
 *
 * Candidate `index` of generator seed `g` draws its hop count and its random walk from its own Rng, so the same
 * (world, g) gives byte-identical questions. Each candidate is checked at generation by running the flawless
 * scripted expert in a real episode over the BM25 index: it is kept only if the expert's answer is an exact match
 * and its hop queries retrieved every hop's gold passage (the question is solvable by searching this corpus).
 * Candidates that fail, repeat a fixed split's question or an earlier candidate's, or whose walk dead-ends are
 * discarded and counted.
 *
 * Ids: `deepsearch/synthetic/g<seed>h<hop counts>/<index, 5 digits>` (`g0h234/00012`: generator 0, chains of 2-4
 * hops); the fixed splits' ids are `deepsearch/<family>/<split>/<4 digits>`, so they never collide. The question wording is the fixed splits' ("What is the X of the Y of Z?").
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
/** The fixed multi-hop family's longest chains. */
const MAX_HOPS = 4;

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

const ID_PATTERN = /^deepsearch\/synthetic\/g(\d+)h([1-4]+)\/(\d{5})$/;
export const hopsLabel = (hops: readonly number[]) => `h${[...new Set(hops)].sort((a, b) => a - b).join('')}`;

export function syntheticDeepSearchId(seed: number, hops: readonly number[], index: number): string {
  return `deepsearch/synthetic/g${seed}${hopsLabel(hops)}/${String(index).padStart(5, '0')}`;
}

/** The generator (seed, hop counts) and candidate index an id names, or undefined for any other id. */
export function parseSyntheticDeepSearchId(taskId: string): { seed: number; hops: number[]; index: number } | undefined {
  const m = ID_PATTERN.exec(taskId);
  return m ? { seed: Number(m[1]), hops: [...m[2]].map(Number), index: Number(m[3]) } : undefined;
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

function checkHops(hops: readonly number[], maxTurns: number): void {
  if (hops.length === 0 || hops.some((h) => !Number.isInteger(h) || h < 1 || h > MAX_HOPS)) {
    throw new Error(`synthetic deepsearch hops must be integers in [1, ${MAX_HOPS}], got ${JSON.stringify(hops)}`);
  }
  if (Math.max(...hops) + 1 > maxTurns) {
    throw new Error(`synthetic deepsearch: ${Math.max(...hops)} hops need maxTurns >= ${Math.max(...hops) + 1}, got ${maxTurns}`);
  }
}

/**
 * The candidates of one generator (seed, hops), generated in index order and kept in memory, so the question an
 * id names is rebuilt in any process by replaying the candidates before it (a repeat of an earlier candidate's
 * question is discarded, so a candidate depends on those before it).
 */
export class SyntheticQuestionStream {
  private readonly kept = new Map<number, QaRecord>();
  private readonly records: QaRecord[] = [];
  private readonly seen: Set<string>;
  /** Indices of the candidates the expert check discarded. */
  private readonly failures: number[] = [];
  private tried = 0;

  /** The allowed hop counts, ascending and distinct (the id names them). */
  readonly hops: readonly number[];

  constructor(
    private readonly source: SyntheticSource,
    readonly seed: number,
    hops: readonly number[] = DEFAULT_HOPS,
  ) {
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`synthetic deepsearch seed must be an integer >= 0, got ${seed}`);
    checkHops(hops, source.settings.maxTurns);
    this.hops = [...new Set(hops)].sort((a, b) => a - b);
    this.seen = new Set(source.exclude);
  }

  /** The first `count` kept questions (indices 0, 1, ...). */
  first(count: number): SyntheticQuestions {
    if (!Number.isInteger(count) || count < 0) throw new Error(`synthetic deepsearch count must be an integer >= 0, got ${count}`);
    while (this.records.length < count) {
      if (this.tried >= 20 * count + 1000) throw new Error(`synthetic deepsearch: only ${this.records.length} of ${count} questions after ${this.tried} candidates; use a larger corpus`);
      this.next();
    }
    const records = this.records.slice(0, count);
    const tried = count === 0 ? 0 : this.indexOf(records[count - 1]) + 1;
    return { records, tried, discarded: tried - count, failedExpert: this.failures.filter((i) => i < tried).length };
  }

  /** Candidate `index`'s question, or null when it was discarded. */
  at(index: number): QaRecord | null {
    if (!Number.isInteger(index) || index < 0 || index > 99_999) throw new Error(`synthetic deepsearch index must be an integer in [0, 99999], got ${index}`);
    while (this.tried <= index) this.next();
    return this.kept.get(index) ?? null;
  }

  private next(): void {
    const index = this.tried++;
    const rng = new Rng(hashSeed(`deepsearch/${this.source.world.seed}/synthetic/g${this.seed}${hopsLabel(this.hops)}/${index}`));
    const chain = walk(this.source.world, rng, rng.pick(this.hops));
    if (!chain) return;
    const record = recordOf(this.source, syntheticDeepSearchId(this.seed, this.hops, index), chain.start, chain.relations);
    if (this.seen.has(record.question)) return;
    if (!expertSolves(this.source, record)) {
      this.failures.push(index);
      return;
    }
    this.seen.add(record.question);
    this.kept.set(index, record);
    this.records.push(record);
  }

  private indexOf(record: QaRecord): number {
    return parseSyntheticDeepSearchId(record.id)!.index;
  }
}

/** The first `count` kept candidates of generator `seed` (indices 0, 1, ...); `hops` lists the allowed hop counts. */
export function generateDeepSearchQuestions(
  source: SyntheticSource,
  opts: { seed: number; count: number; hops?: readonly number[] },
): SyntheticQuestions {
  return new SyntheticQuestionStream(source, opts.seed, opts.hops ?? DEFAULT_HOPS).first(opts.count);
}
