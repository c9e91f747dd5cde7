import { generateQuestions, generateWorld, renderCorpus, UNANSWERABLE_ANSWER } from '../../../envs/deepsearch';

describe('generated questions', () => {
  const world = generateWorld(21, 2000);
  const corpus = renderCorpus(world);
  const splits = generateQuestions(world, corpus);
  const all = [...splits.values()].flat();

  it('has fixed single-hop and multi-hop splits of the default sizes with a 10% unanswerable share', () => {
    expect([...splits.keys()]).toEqual(['single/train', 'single/dev', 'single/test', 'multi/train', 'multi/dev', 'multi/test']);
    for (const [name, records] of splits) {
      expect(records).toHaveLength(name.endsWith('train') ? 1000 : 200);
      expect(records.filter((r) => !r.answerable)).toHaveLength(name.endsWith('train') ? 100 : 20);
    }
  });

  it('is deterministic from the seed', () => {
    expect(generateQuestions(world, corpus)).toEqual(splits);
    const other = generateWorld(22, 2000);
    expect(generateQuestions(other, renderCorpus(other)).get('single/dev')![0].question).not.toBe(splits.get('single/dev')![0].question);
  });

  it('never repeats a question across splits, and ids are unique', () => {
    expect(new Set(all.map((r) => r.question)).size).toBe(all.length);
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
  });

  it('uses 1 hop for single-hop and 2-4 hops for multi-hop, one decomposition step per hop', () => {
    for (const r of all) {
      expect(r.hops).toHaveLength(r.hopCount);
      if (r.family === 'single') expect(r.hopCount).toBe(1);
      else expect([2, 3, 4]).toContain(r.hopCount);
    }
    const multi = all.filter((r) => r.family === 'multi');
    for (const hops of [2, 3, 4]) expect(multi.filter((r) => r.hopCount === hops).length).toBeGreaterThan(50);
  });

  it('chains hops: each query names the previous hop answer, and answerable chains end on the golden answer', () => {
    for (const r of all.filter((q) => q.answerable)) {
      r.hops.forEach((h, i) => {
        if (i > 0) expect(h.query.startsWith(r.hops[i - 1].answer)).toBe(true);
        expect(h.passageId).toBeDefined();
      });
      expect(r.goldenAnswers[0]).toBe(r.hops[r.hops.length - 1].answer);
      expect(r.goldenAnswers).not.toContain(UNANSWERABLE_ANSWER);
    }
  });

  it('makes unanswerable questions about a missing fact or a subject that does not exist', () => {
    const names = new Set(world.entities.map((e) => e.name));
    const unanswerable = all.filter((r) => !r.answerable);
    for (const r of unanswerable) {
      expect(r.goldenAnswers).toEqual([UNANSWERABLE_ANSWER]);
      expect(r.template).toMatch(/:unanswerable$/);
      const last = r.hops[r.hops.length - 1];
      expect(last.passageId).toBeUndefined();
      if (r.subject.startsWith('phantom:')) expect(names.has(r.subject.slice('phantom:'.length))).toBe(false);
      else {
        // Walk the chain in the world: every hop but the last exists, the last fact is absent.
        const relations = r.template.split(':')[1].split('>') as (keyof (typeof world.entities)[0]['facts'])[];
        let entity = world.byId.get(r.subject)!;
        for (const relation of relations.slice(0, -1)) entity = world.byId.get((entity.facts[relation] as { entity: string }).entity)!;
        expect(entity.facts[relations[relations.length - 1]]).toBeUndefined();
      }
    }
    expect(unanswerable.some((r) => r.subject.startsWith('phantom:'))).toBe(true);
    expect(unanswerable.some((r) => r.family === 'multi')).toBe(true);
  });

  it('refuses an unanswerable share outside [0, 1]', () => {
    expect(() => generateQuestions(world, corpus, { unanswerableShare: 2 })).toThrow(/unanswerableShare/);
  });
});
