import { createAppsEnvironment } from '../../../envs/apps';
import { baseTokenizer, demonstrationSets, heldOutTasks } from '../../../trainer/base-model';

describe('the SFT held-out split', () => {
  test('holds out whole tasks (every 10th distinct id, in order of first appearance), whatever their turn count', () => {
    // Two worlds repeat the same 25 task ids; each task has 1-3 turns.
    const ids = [0, 1].flatMap(() => Array.from({ length: 25 }, (_, t) => Array(1 + (t % 3)).fill(`task-${t}`)).flat());
    const held = heldOutTasks(ids);
    expect([...held]).toEqual(['task-0', 'task-10', 'task-20']);
    const heldTurns = ids.filter((id) => held.has(id));
    expect(heldTurns).toHaveLength(2 * (1 + 2 + 3)); // task-0: 1 turn, task-10: 2, task-20: 3; in both worlds
    expect(ids.filter((id) => !held.has(id)).some((id) => held.has(id))).toBe(false);
  });
});

describe('the base tokenizer', () => {
  test("spells out session tokens: each world has its own, none is in the vocabulary, so a new one reads like a trained one", () => {
    const worlds = [1, 2].map((seed) => createAppsEnvironment({ seed }));
    const sets = demonstrationSets(worlds, { demosPerTask: 1, demoNoise: 0 }, { split: 'train', seed: 1 });
    const sessionTokens = sets.map((s) => new Set(s.demos.flatMap((d) => [...d.context.matchAll(/[a-z]+=([a-z0-9]{6})\b/g)].map((m) => m[1]))));
    expect(sessionTokens[0].size).toBeGreaterThan(50);
    expect([...sessionTokens[0]].filter((t) => sessionTokens[1].has(t))).toEqual([]);
    const tokenizer = baseTokenizer(sets, 2048);
    // letters and digits, one token each, except where a run of letters happens to be a word of the protocol ("ok")
    for (const token of sessionTokens[0]) expect(tokenizer.encode(token).length).toBeGreaterThanOrEqual(4);
    expect(tokenizer.encode('zq0x7k').map((id) => tokenizer.tokenText(id))).toEqual([...'zq0x7k']);
    // the protocol's words stay whole
    for (const word of ['login', 'password', 'show_api_doc']) expect(tokenizer.encode(word)).toHaveLength(1);
  });
});
