/**
 * Passages: the generated encyclopedia rendered as titled passages of 50-150 words, and the loader/writer for
 * the public Search-R1 / DPR corpus JSONL format (`{"id": "0", "contents": "\"Title\"\ntext"}`) so a real
 * Wikipedia dump can replace the generated one.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Rng } from '../../common/random';
import { Entity, FactValue, Relation, RELATIONS, World, factText } from './world';

export interface Passage {
  id: string;
  title: string;
  text: string;
}

export interface RenderedCorpus {
  passages: Passage[];
  /** `${entityId}/${relation}` -> id of the passage stating that fact (the gold passage for a hop). */
  factPassage: Map<string, string>;
}

/** Which facts go into which of an entity's passages (persons get three passages, countries one). */
const PASSAGE_PLAN: Record<Entity['kind'], Relation[][]> = {
  person: [['birthYear', 'birthplace'], ['occupation', 'employer'], ['spouse']],
  city: [['country', 'cityFounded'], ['mayor']],
  country: [['capital', 'currency', 'language']],
  organisation: [['founder', 'orgFounded'], ['headquarters', 'industry']],
  work: [['creator', 'releaseYear'], ['publisher', 'genre']],
};

const FACT_TEMPLATES = [
  (s: string, phrase: string, v: string) => `The ${phrase} of ${s} is ${v}.`,
  (s: string, phrase: string, v: string) => `Records give ${v} as the ${phrase} of ${s}.`,
];

// Filler mentions other entities so that names recur across passages and retrieval has real distractors.
// None of these sentences uses a relation phrase, so a filler never states or contradicts a fact.
const FILLER_TEMPLATES = [
  (s: string, o: string, y: string) => `${s} is discussed in several regional histories written after ${y}.`,
  (s: string, o: string) => `Visitors often compare ${s} with ${o}.`,
  (s: string, o: string) => `Local archives mention ${s} and ${o} in the same collection.`,
  (s: string, o: string, y: string) => `A survey from ${y} described ${s} in some detail.`,
  (s: string) => `Much of what is known about ${s} comes from letters and newspaper reports.`,
  (s: string, o: string) => `Scholars have linked ${s} to ${o}, though the evidence is thin.`,
  (s: string, o: string, y: string) => `An exhibition in ${y} presented material on ${s} next to items about ${o}.`,
  (s: string) => `Later editions of this encyclopedia expanded the entry on ${s}.`,
];

function leadSentence(e: Entity, part: number): string {
  const article = /^[aeiou]/.test(e.description) ? 'an' : 'a';
  if (part === 0) {
    const aka = e.aliases.length > 0 ? `, also known as ${e.aliases[0]},` : '';
    return `${e.name}${aka} is ${article} ${e.description} described in this encyclopedia.`;
  }
  return `This section continues the entry on ${e.name}.`;
}

function wordCount(sentences: string[]): number {
  return sentences.reduce((n, s) => n + s.split(/\s+/).length, 0);
}

export function renderCorpus(world: World): RenderedCorpus {
  const rng = new Rng(world.seed).fork('corpus');
  const passages: Passage[] = [];
  const factPassage = new Map<string, string>();
  const others = world.entities;
  for (const entity of world.entities) {
    PASSAGE_PLAN[entity.kind].forEach((relations, part) => {
      const id = `${entity.id}-${part}`;
      const sentences = [leadSentence(entity, part)];
      for (const relation of relations) {
        const value: FactValue | undefined = entity.facts[relation];
        if (!value) continue;
        sentences.push(rng.pick(FACT_TEMPLATES)(entity.name, RELATIONS[relation].phrase, factText(world, value)));
        factPassage.set(`${entity.id}/${relation}`, id);
      }
      const target = rng.int(55, 110);
      const fillers = rng.shuffle(FILLER_TEMPLATES);
      for (let i = 0; wordCount(sentences) < target; i++) {
        const filler = fillers[i % fillers.length];
        const other = rng.pick(others).name;
        sentences.splice(1 + rng.int(0, sentences.length - 1), 0, filler(entity.name, other, String(rng.int(1700, 2020))));
      }
      passages.push({ id, title: entity.name, text: sentences.join(' ') });
    });
  }
  return { passages, factPassage };
}

/** Content hash of a corpus: the search-index cache key. */
export function corpusHash(passages: readonly Passage[]): string {
  const hash = createHash('sha256');
  for (const p of passages) hash.update(`${p.id}\u0000${p.title}\u0000${p.text}\u0001`);
  return hash.digest('hex');
}

/** One line of the public corpus format; the first line of `contents` is the (usually quoted) title. */
export function parseCorpusLine(line: string, lineNumber = 0): Passage {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (err) {
    throw new Error(`corpus JSONL line ${lineNumber}: not JSON (${(err as Error).message})`);
  }
  const r = row as { id?: unknown; contents?: unknown; title?: unknown; text?: unknown };
  if (r === null || typeof r !== 'object' || (typeof r.id !== 'string' && typeof r.id !== 'number')) {
    throw new Error(`corpus JSONL line ${lineNumber}: expected {"id", "contents"}`);
  }
  if (typeof r.contents === 'string') {
    const newline = r.contents.indexOf('\n');
    const rawTitle = newline < 0 ? '' : r.contents.slice(0, newline);
    const text = newline < 0 ? r.contents : r.contents.slice(newline + 1);
    return { id: String(r.id), title: rawTitle.trim().replace(/^"(.*)"$/s, '$1'), text: text.trim() };
  }
  // Some dumps split the fields already (`{"id", "title", "text"}`).
  if (typeof r.text === 'string') return { id: String(r.id), title: typeof r.title === 'string' ? r.title : '', text: r.text };
  throw new Error(`corpus JSONL line ${lineNumber}: missing string "contents"`);
}

/** A file saved with a UTF-8 byte-order mark (some Windows tools add one) would make line 1 invalid JSON. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function parseCorpusJsonl(text: string): Passage[] {
  const passages: Passage[] = [];
  stripBom(text).split('\n').forEach((line, i) => {
    if (line.trim()) passages.push(parseCorpusLine(line, i + 1));
  });
  return passages;
}

export function loadCorpusJsonl(path: string): Passage[] {
  return parseCorpusJsonl(readFileSync(path, 'utf8'));
}

/** The inverse of `parseCorpusLine`, for exporting the generated corpus to other tools. */
export function toCorpusJsonl(passages: readonly Passage[]): string {
  return passages.map((p) => JSON.stringify({ id: p.id, contents: `"${p.title}"\n${p.text}` })).join('\n') + '\n';
}
