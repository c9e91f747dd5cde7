import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bm25Index, Passage } from '../../../envs/deepsearch';

const passages: Passage[] = [
  { id: 'a', title: 'Varen Falls', text: 'The mayor of Varen Falls is Alma Berg. Varen Falls lies on a river.' },
  { id: 'b', title: 'Alma Berg', text: 'The place of birth of Alma Berg is Varen Falls.' },
  { id: 'c', title: 'Velor Press', text: 'The founder of Velor Press is Hugo Storm.' },
  { id: 'd', title: 'Hugo Storm', text: 'The occupation of Hugo Storm is painter.' },
];

describe('Bm25Index', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'deepsearch-index-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ranks the passage sharing the most query terms first, title matches boosted', () => {
    const index = Bm25Index.open(passages, null);
    expect(index.query('Alma Berg place of birth', 3)[0].passage.id).toBe('b');
    expect(index.query('Velor Press founder', 3)[0].passage.id).toBe('c');
    expect(index.query('Hugo Storm', 1).map((h) => h.passage.id)).toEqual(['d']);
  });

  it('returns at most k hits and nothing for an empty or stop-word query', () => {
    const index = Bm25Index.open(passages, null);
    expect(index.query('Varen Falls Alma Berg Hugo Storm', 2)).toHaveLength(2);
    expect(index.query('', 3)).toEqual([]);
    expect(index.query('what is the', 3)).toEqual([]);
  });

  it('builds once, loads from the cache, and rebuilds when the corpus changes', () => {
    const first = Bm25Index.open(passages, dir);
    expect(first.stats.fromCache).toBe(false);
    const second = Bm25Index.open(passages, dir);
    expect(second.stats.fromCache).toBe(true);
    expect(second.query('Velor Press founder', 1)[0].passage.id).toBe('c');

    const changed = passages.map((p) => (p.id === 'd' ? { ...p, text: 'The occupation of Hugo Storm is chemist.' } : p));
    const third = Bm25Index.open(changed, dir);
    expect(third.stats.fromCache).toBe(false);
    expect(third.query('Hugo Storm occupation', 1)[0].passage.text).toContain('chemist');
    expect(readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(2);
  });

  it('refuses an empty corpus', () => {
    expect(() => Bm25Index.open([], null)).toThrow(/empty/);
  });
});
