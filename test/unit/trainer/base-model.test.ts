import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBaseCheckpoint, baseKey } from '../../../cli/sft';
import { LocalArtifactStore } from '../../../common/artifacts';
import { createAppsEnvironment } from '../../../envs/apps';
import { loadAgentState, disposeAgentState } from '../../../trainer/agent-state';
import { initBackend } from '../../../policy/backend';
import { getWeights } from '../../../policy/model';
import { baseTokenizer, buildBaseModel, demonstrationSets, heldOutTasks } from '../../../trainer/base-model';
import { parseRunConfig } from '../../../config/run-config';
import { demonstrationExamples } from '../../../trainer/demonstrations';

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

describe('demonstration examples', () => {
  const env = createAppsEnvironment();
  const [set] = demonstrationSets([env], { demosPerTask: 1, demoNoise: 0 }, { split: 'train', seed: 1 });
  const tokenizer = baseTokenizer([set], 2048);
  const longest = Math.max(...set.demos.map((d) => tokenizer.encode(d.action).length));

  test('keep every action whole, its stop string last, with the loss on the action only', () => {
    const examples = demonstrationExamples(tokenizer, set.demos, 512, longest);
    const i = set.demos.findIndex((d) => tokenizer.encode(d.action).length === longest);
    const target = examples[i].tokens.filter((_, t) => examples[i].lossMask[t] === 1);
    expect(tokenizer.decode(target)).toBe(set.demos[i].action);
    expect(set.demos[i].action.endsWith('\n')).toBe(true);
  });

  test('refuse an action longer than maxActionTokens instead of cutting it (a cut call can never be finished)', () => {
    expect(longest).toBeGreaterThan(48); // calendar.create_event: the old default cut it
    expect(() => demonstrationExamples(tokenizer, set.demos, 512, longest - 1)).toThrow(/over sampling.maxActionTokens = \d+ \(raise it/);
  });
});

describe('SFT from a given policy (bench:sft --init)', () => {
  beforeAll(() => initBackend({ quiet: true }));
  const settings = (width: number) =>
    parseRunConfig({ runId: 'init', env: 'apps', steps: 1, agent: { model: { layers: 1, heads: 2, width, contextLength: 512 }, base: { sftSteps: 2, sftBatchSize: 2, demosPerTask: 1 } } }).agent;
  const worlds = [createAppsEnvironment()];

  test('continues training that policy with its tokenizer, and refuses one whose model settings differ', async () => {
    const first = await buildBaseModel(worlds, settings(32), { split: 'train', seed: 1 });
    const before = Object.fromEntries(Object.entries(getWeights(first.policy)).map(([name, w]) => [name, Float32Array.from(w.data)]));
    const next = await buildBaseModel(worlds, settings(32), { split: 'train', seed: 2, init: first });
    expect(next.policy).toBe(first.policy);
    expect(next.tokenizer).toBe(first.tokenizer);
    const after = getWeights(next.policy);
    const moved = Object.entries(before).map(([name, w]) => Math.max(...w.map((x, i) => Math.abs(x - after[name].data[i]))));
    expect(Math.max(...moved)).toBeGreaterThan(0); // trained further, from the given weights
    expect(Math.max(...moved)).toBeLessThan(0.05); // two small steps, not a fresh initialisation
    await expect(buildBaseModel(worlds, settings(48), { split: 'train', seed: 1, init: first })).rejects.toThrow(/differs from agent.model in width \(32 vs 48\)/);
  });
});

describe('a base with a habit stage (base.habitFinetune)', () => {
  beforeAll(() => initBackend({ quiet: true }));
  const settings = (base: Record<string, unknown>) =>
    parseRunConfig({ runId: 'habit', env: 'apps', steps: 1, agent: { model: { layers: 1, heads: 2, width: 32, contextLength: 512 }, base: { sftSteps: 2, sftBatchSize: 2, demosPerTask: 1, demoNoise: 0, ...base } } }).agent;
  const worlds = [createAppsEnvironment()];

  test('is the clean base trained further on habit demonstrations, as bench:sft --init would, its steps numbered on', async () => {
    const steps: number[] = [];
    const staged = await buildBaseModel(worlds, settings({ habitFinetune: { steps: 2, learningRate: 1e-3, demoHabit: 1 } }), { split: 'train', seed: 1, onStep: (s) => steps.push(s) });
    const clean = await buildBaseModel(worlds, settings({}), { split: 'train', seed: 1 });
    const continued = await buildBaseModel(worlds, settings({ sftLearningRate: 1e-3, demoHabit: 1 }), { split: 'train', seed: 1, init: clean });
    const [a, b] = [getWeights(staged.policy), getWeights(continued.policy)];
    for (const name of Object.keys(b)) expect(Array.from(a[name].data)).toEqual(Array.from(b[name].data));
    expect(steps).toEqual([0, 1, 2, 3]);
    expect(staged.sft.steps).toBe(4);
    expect(staged.sft.evals.map((e) => e.step)).toEqual([2, 4]);
    // the habit stage's demonstrations: every task of more than one step stopped one step short
    expect(staged.sft.expertSuccess).toBe(continued.sft.expertSuccess);
    expect(staged.sft.expertSuccess).toBeLessThan(clean.sft.expertSuccess);
  });
});

describe('a base checkpoint with a habit stage', () => {
  beforeAll(() => initBackend({ quiet: true }));
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-base-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = (habitFinetune?: Record<string, unknown>) =>
    parseRunConfig({ runId: 'habit-ckpt', env: 'apps', steps: 1, agent: { model: { layers: 1, heads: 2, width: 32, contextLength: 512 }, base: { sftSteps: 2, sftBatchSize: 2, demosPerTask: 1, demoNoise: 0, demoWorlds: 1, habitFinetune } } });

  test('stores the clean stage under its own key, reuses it when only the habit changes, and has the one-pass weights', async () => {
    const store = new LocalArtifactStore(dir);
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const habit = config({ steps: 2, learningRate: 1e-3, demoHabit: 1 });
    const ref = await buildBaseCheckpoint(habit, { store, reuse: true, log });
    expect(await store.has(baseKey(config()))).toBe(true); // the clean stage, as a config without the habit keys it
    expect(lines.some((l) => l.startsWith('reusing'))).toBe(false);

    // one pass of buildBaseModel, as before the stages were stored apart: the same weights and tokenizer
    const onePass = await buildBaseModel([createAppsEnvironment()], habit.agent, { split: 'train', seed: habit.seed });
    const stored = await loadAgentState(store, ref);
    const [a, b] = [getWeights(onePass.policy), getWeights(stored.policy)];
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const name of Object.keys(a)) expect(Array.from(b[name].data)).toEqual(Array.from(a[name].data));
    expect(stored.tokenizer.vocabSize).toBe(onePass.tokenizer.vocabSize);
    disposeAgentState(stored);

    // another habit share: the clean stage is read back, only the habit stage trains
    lines.length = 0;
    const other = await buildBaseCheckpoint(config({ steps: 2, learningRate: 1e-3, demoHabit: 0.5 }), { store, reuse: true, log });
    expect(lines.filter((l) => l.startsWith('reusing'))).toEqual([`reusing the base policy ${baseKey(config())}`]);
    expect(lines.some((l) => /^  sft step/.test(l))).toBe(false);
    expect(lines.some((l) => /^  habit step 0\/2/.test(l))).toBe(true);
    expect(other.key).not.toBe(ref.key);
    expect(other.sha256).not.toBe(ref.sha256);
  });
});
