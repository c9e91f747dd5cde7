import { join } from 'node:path';
import {
  corpusHash,
  generateWorld,
  loadCorpusJsonl,
  parseCorpusJsonl,
  parseCorpusLine,
  renderCorpus,
  toCorpusJsonl,
} from '../../../envs/deepsearch';
import { FIXTURES } from './helpers';

describe('generated corpus', () => {
  const small = renderCorpus(generateWorld(7, 1000));

  it('is deterministic from its seed', () => {
    expect(corpusHash(renderCorpus(generateWorld(7, 1000)).passages)).toBe(corpusHash(small.passages));
    expect(corpusHash(renderCorpus(generateWorld(8, 1000)).passages)).not.toBe(corpusHash(small.passages));
  });

  it('has at least 10,000 titled passages of 50-150 words by default', () => {
    const { passages } = renderCorpus(generateWorld(0, 10_000));
    expect(passages.length).toBeGreaterThanOrEqual(10_000);
    expect(new Set(passages.map((p) => p.id)).size).toBe(passages.length);
    for (const p of passages) {
      const words = p.text.split(/\s+/).length;
      expect(words).toBeGreaterThanOrEqual(50);
      expect(words).toBeLessThanOrEqual(150);
      expect(p.title.length).toBeGreaterThan(0);
    }
  });

  it('states every fact in the passage recorded for it', () => {
    const world = generateWorld(7, 1000);
    const { passages, factPassage } = renderCorpus(world);
    const byId = new Map(passages.map((p) => [p.id, p]));
    for (const [key, passageId] of factPassage) {
      const [entityId, relation] = key.split('/');
      const entity = world.byId.get(entityId)!;
      const value = entity.facts[relation as keyof typeof entity.facts]!;
      const text = 'entity' in value ? world.byId.get(value.entity)!.name : value.literal;
      expect(byId.get(passageId)!.text).toContain(text);
      expect(byId.get(passageId)!.title).toBe(entity.name);
    }
  });

  it('gives every entity a unique name', () => {
    const world = generateWorld(3, 10_000);
    expect(new Set(world.entities.map((e) => e.name)).size).toBe(world.entities.length);
  });

  it('refuses a corpus too small to generate', () => {
    expect(() => generateWorld(0, 10)).toThrow(/passages must be an integer >= 200/);
  });
});

describe('corpus JSONL (Search-R1 / DPR format)', () => {
  it('parses the quoted title line and the text', () => {
    const passages = loadCorpusJsonl(join(FIXTURES, 'corpus.jsonl'));
    expect(passages).toHaveLength(5);
    expect(passages[1]).toEqual({
      id: '1',
      title: 'Green (Steve Hillage album)',
      text: 'Green is the fourth studio album by Steve Hillage, released in 1978 by Virgin Records.',
    });
  });

  it('round-trips the generated corpus', () => {
    const { passages } = renderCorpus(generateWorld(1, 300));
    expect(parseCorpusJsonl(toCorpusJsonl(passages))).toEqual(passages);
  });

  it('names the line of a bad row', () => {
    expect(() => parseCorpusJsonl('{"id": "0", "contents": "\\"A\\"\\ntext"}\n{oops')).toThrow(/line 2: not JSON/);
    expect(() => parseCorpusLine('{"contents": "x"}', 4)).toThrow(/line 4: expected/);
    expect(() => parseCorpusLine('{"id": 1}', 5)).toThrow(/line 5: missing string "contents"/);
  });
});
