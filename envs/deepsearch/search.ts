/**
 * The search tool: BM25 over passages through MiniSearch (BM25+ scoring, typed, maintained, with a JSON
 * serialisation we use as the on-disk cache). The index is cached under `cacheDir`, keyed by the corpus
 * hash and the index settings, so it is built once and rebuilt only when the corpus or the settings change.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import MiniSearch, { Options } from 'minisearch';
import { Passage, corpusHash } from './corpus';

export const DEFAULT_CACHE_DIR = '.data/cache/deepsearch';

/** Bump when the index settings below change, so stale cache files are never loaded. */
const INDEX_VERSION = 1;

// Question words and function words carry no signal in template questions and slow every query down.
const STOP_WORDS = new Set(
  'a an the of is are was were in on at to for and or by with as what which who whom whose when where how did does do'.split(' '),
);

function processTerm(term: string): string | null {
  const lower = term.toLowerCase();
  return STOP_WORDS.has(lower) ? null : lower;
}

const INDEX_OPTIONS: Options<Passage> = {
  idField: 'id',
  fields: ['title', 'text'],
  processTerm,
  searchOptions: { boost: { title: 2 }, combineWith: 'OR' },
};

export interface SearchHit {
  passage: Passage;
  score: number;
}

export interface IndexStats {
  passages: number;
  /** Wall time to build or load the index. */
  ms: number;
  fromCache: boolean;
  cacheFile: string | null;
}

/** Recent results kept per index: the K rollouts of one task in a GRPO group repeat the same queries. */
const MEMO_SIZE = 4096;

export class Bm25Index {
  private readonly byId: Map<string, Passage>;
  private readonly memo = new Map<string, SearchHit[]>();

  private constructor(
    private readonly search: MiniSearch<Passage>,
    passages: readonly Passage[],
    readonly stats: IndexStats,
  ) {
    this.byId = new Map(passages.map((p) => [p.id, p]));
  }

  /**
   * Loads the cached index for this corpus, or builds and caches it. `cacheDir: null` never touches disk.
   * Measures wall time for the report, which is why it reads the clock.
   */
  static open(passages: readonly Passage[], cacheDir: string | null = DEFAULT_CACHE_DIR): Bm25Index {
    if (passages.length === 0) throw new Error('Bm25Index: the corpus is empty');
    const started = performance.now();
    const file = cacheDir === null ? null : join(cacheDir, `bm25-v${INDEX_VERSION}-${corpusHash(passages)}.json`);
    if (file !== null && existsSync(file)) {
      try {
        const index = MiniSearch.loadJSON<Passage>(readFileSync(file, 'utf8'), INDEX_OPTIONS);
        if (index.documentCount === passages.length) {
          return new Bm25Index(index, passages, { passages: passages.length, ms: performance.now() - started, fromCache: true, cacheFile: file });
        }
      } catch {
        // A truncated or foreign cache file is rebuilt below and overwritten.
      }
    }
    const index = new MiniSearch<Passage>(INDEX_OPTIONS);
    index.addAll(passages as Passage[]);
    if (file !== null) {
      mkdirSync(cacheDir!, { recursive: true });
      // Write then rename, so a concurrent reader never sees half a file.
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(index));
      renameSync(tmp, file);
    }
    return new Bm25Index(index, passages, { passages: passages.length, ms: performance.now() - started, fromCache: false, cacheFile: file });
  }

  /** The top `k` passages for a free-text query; an empty or stop-word-only query finds nothing. */
  query(text: string, k: number): SearchHit[] {
    const key = `${k}\u0000${text}`;
    const cached = this.memo.get(key);
    if (cached) return cached.slice();
    const hits: SearchHit[] = [];
    for (const r of this.search.search(text).slice(0, k)) {
      const passage = this.byId.get(String(r.id));
      if (passage) hits.push({ passage, score: r.score });
    }
    // Map keeps insertion order, so the first key is the oldest entry.
    if (this.memo.size >= MEMO_SIZE) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(key, hits);
    return hits.slice();
  }

  passage(id: string): Passage | undefined {
    return this.byId.get(id);
  }
}
