/**
 * Question records and the seeded question generator: single-hop (NQ-like) and multi-hop chains of 2-4 hops
 * (MuSiQue-like, "What is the genre of the ... of X?"), plus a flagged share of unanswerable questions whose
 * golden answer is `UNANSWERABLE_ANSWER` ("unknown"): either the asked fact is absent from the corpus
 * (an unmarried person's spouse, a city without a mayor) or the subject does not exist at all.
 */
import { Rng } from '../../common/random';
import { UNANSWERABLE_ANSWER } from './answers';
import { RenderedCorpus } from './corpus';
import { Entity, NAME_MAKERS, RELATIONS, Relation, World, factAnswers, factText, relationsOf } from './world';

export type QuestionFamily = 'single' | 'multi';

/** One step of the reasoning chain: what to search for, and what the retrieved passage should yield. */
export interface Hop {
  query: string;
  answer: string;
  /** The passage stating this hop's fact, when known (generated corpus, MuSiQue supporting paragraph). */
  passageId?: string;
}

export interface QaRecord {
  id: string;
  question: string;
  goldenAnswers: string[];
  answerable: boolean;
  family: QuestionFamily;
  /** Number of hops (1 for single-hop). */
  hopCount: number;
  /** Question shape, e.g. `2hop:creator>birthplace` or `1hop:spouse:unanswerable`. */
  template: string;
  /** Groups questions about the same subject. */
  subject: string;
  /** The decomposition; empty for loaded rows that carry none (Search-R1 format). */
  hops: Hop[];
}

export interface SplitSizes {
  train: number;
  dev: number;
  test: number;
}

export interface QuestionOptions {
  sizes?: Partial<Record<QuestionFamily, SplitSizes>>;
  /** Share of each split that is unanswerable (default 0.1). */
  unanswerableShare?: number;
}

export const DEFAULT_SPLIT_SIZES: SplitSizes = { train: 1000, dev: 200, test: 200 };
/** Multi-hop mix: 2, 3 and 4 hops. */
const HOP_WEIGHTS: [number, number][] = [
  [2, 0.5],
  [3, 0.3],
  [4, 0.2],
];

const ENTITY_RELATIONS = (Object.keys(RELATIONS) as Relation[]).filter((r) => {
  const object = RELATIONS[r].object;
  return object !== 'year' && object !== 'literal';
});

function questionText(relations: Relation[], subjectName: string): string {
  // The last relation is asked about; earlier ones nest inward: "the genre of the publisher of X".
  const nested = relations
    .slice()
    .reverse()
    .map((r) => RELATIONS[r].phrase)
    .join(' of the ');
  return `What is the ${nested} of ${subjectName}?`;
}

function hopQuery(subjectName: string, relation: Relation): string {
  return `${subjectName} ${RELATIONS[relation].phrase}`;
}

interface Draft {
  question: string;
  goldenAnswers: string[];
  answerable: boolean;
  relations: Relation[];
  subject: string;
  hops: Hop[];
}

function draftOf(world: World, corpus: RenderedCorpus, start: Entity, relations: Relation[]): Draft | null {
  const hops: Hop[] = [];
  let current = start;
  for (let i = 0; i < relations.length; i++) {
    const value = current.facts[relations[i]];
    const query = hopQuery(current.name, relations[i]);
    if (!value) {
      // Only the last hop may be missing: that is an unanswerable question.
      if (i !== relations.length - 1) return null;
      hops.push({ query, answer: UNANSWERABLE_ANSWER });
      return { question: questionText(relations, start.name), goldenAnswers: [UNANSWERABLE_ANSWER], answerable: false, relations, subject: start.id, hops };
    }
    hops.push({ query, answer: factText(world, value), passageId: corpus.factPassage.get(`${current.id}/${relations[i]}`) });
    if (i === relations.length - 1) {
      return { question: questionText(relations, start.name), goldenAnswers: factAnswers(world, value), answerable: true, relations, subject: start.id, hops };
    }
    if (!('entity' in value)) return null;
    current = world.byId.get(value.entity)!;
  }
  return null;
}

/** A random walk of `hops` relations from a random subject; null when the walk dead-ends or revisits. */
function randomChain(world: World, corpus: RenderedCorpus, rng: Rng, hops: number, answerable: boolean): Draft | null {
  const start = rng.pick(world.entities);
  const relations: Relation[] = [];
  const visited = new Set([start.id]);
  let current = start;
  for (let i = 0; i < hops - 1; i++) {
    const options = relationsOf(current.kind).filter((r) => ENTITY_RELATIONS.includes(r) && current.facts[r]);
    if (options.length === 0) return null;
    const relation = rng.pick(options);
    const next = (current.facts[relation] as { entity: string }).entity;
    if (visited.has(next)) return null;
    visited.add(next);
    relations.push(relation);
    current = world.byId.get(next)!;
  }
  const finals = relationsOf(current.kind).filter((r) => (current.facts[r] !== undefined) === answerable);
  if (finals.length === 0) return null;
  const last = rng.pick(finals);
  const lastValue = current.facts[last];
  if (lastValue && 'entity' in lastValue && visited.has(lastValue.entity)) return null;
  relations.push(last);
  return draftOf(world, corpus, start, relations);
}

/** A question about a subject that is not in the world: a plausible name no entity carries. */
function phantomSubject(world: World, rng: Rng): Draft {
  const kinds: Entity['kind'][] = ['person', 'city', 'organisation', 'work'];
  const kind = rng.pick(kinds);
  const used = new Set(world.entities.map((e) => e.name));
  let name = NAME_MAKERS[kind](rng);
  while (used.has(name)) name = NAME_MAKERS[kind](rng);
  const relation = rng.pick(relationsOf(kind));
  return {
    question: questionText([relation], name),
    goldenAnswers: [UNANSWERABLE_ANSWER],
    answerable: false,
    relations: [relation],
    subject: `phantom:${name}`,
    hops: [{ query: hopQuery(name, relation), answer: UNANSWERABLE_ANSWER }],
  };
}

function pickHopCount(rng: Rng): number {
  let u = rng.next();
  for (const [hops, weight] of HOP_WEIGHTS) {
    if (u < weight) return hops;
    u -= weight;
  }
  return HOP_WEIGHTS[0][0];
}

function toRecord(draft: Draft, family: QuestionFamily, split: string, index: number): QaRecord {
  const hopCount = draft.relations.length;
  return {
    id: `deepsearch/${family}/${split}/${String(index).padStart(4, '0')}`,
    question: draft.question,
    goldenAnswers: draft.goldenAnswers,
    answerable: draft.answerable,
    family,
    hopCount,
    template: `${hopCount}hop:${draft.relations.join('>')}${draft.answerable ? '' : ':unanswerable'}`,
    subject: draft.subject,
    hops: draft.hops,
  };
}

/**
 * Fixed splits `single/{train,dev,test}` and `multi/{train,dev,test}`. Question texts never repeat across
 * splits; the unanswerable share is exact per split (rounded).
 */
export function generateQuestions(world: World, corpus: RenderedCorpus, opts: QuestionOptions = {}): Map<string, QaRecord[]> {
  const share = opts.unanswerableShare ?? 0.1;
  if (!(share >= 0 && share <= 1)) throw new Error(`unanswerableShare must be in [0, 1], got ${share}`);
  const rng = new Rng(world.seed).fork('questions');
  const seen = new Set<string>();
  const splits = new Map<string, QaRecord[]>();
  for (const family of ['single', 'multi'] as const) {
    const sizes = { ...DEFAULT_SPLIT_SIZES, ...opts.sizes?.[family] };
    const familyRng = rng.fork(family);
    for (const split of ['train', 'dev', 'test'] as const) {
      const total = sizes[split];
      const unanswerable = Math.round(total * share);
      const records: QaRecord[] = [];
      let attempts = 0;
      while (records.length < total) {
        if (++attempts > total * 200 + 10_000) {
          throw new Error(`deepsearch questions: could not find ${total} distinct ${family}/${split} questions; use a larger corpus or smaller questions.sizes`);
        }
        const wantAnswerable = records.length >= unanswerable;
        const hops = family === 'single' ? 1 : pickHopCount(familyRng);
        const draft =
          !wantAnswerable && family === 'single' && familyRng.bool(0.3)
            ? phantomSubject(world, familyRng)
            : randomChain(world, corpus, familyRng, hops, wantAnswerable);
        if (!draft || seen.has(draft.question)) continue;
        seen.add(draft.question);
        records.push(toRecord(draft, family, split, records.length));
      }
      // Unanswerable questions were drawn first; shuffle so they are spread through the split, then renumber.
      const shuffled = familyRng.shuffle(records).map((r, i) => ({ ...r, id: `deepsearch/${family}/${split}/${String(i).padStart(4, '0')}` }));
      splits.set(`${family}/${split}`, shuffled);
    }
  }
  return splits;
}
