/**
 * SAGE training's rollout side (trainer/chain-rollout.ts, config/sage.ts): chains of one scenario played in order
 * with one library per chain, the skill-integrated reward on hand-computed chains, the verifier's replay, the
 * group numbering the estimator sees, determinism, and the config's refusals. The player is the scripted expert
 * (a real agent in real episodes), so what a chain does is known exactly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactKeys as keys } from '../../../common/artifact-keys';
import { LocalArtifactStore } from '../../../common/artifacts';
import { parseRunConfig } from '../../../config/run-config';
import { createAppsEnvironment, type AppsExpertOptions } from '../../../envs/apps';
import { chainRollout, chainTasks, verifyChains } from '../../../trainer/chain-rollout';
import { playedTrajectory, type PolicyRollout, type RolloutSpec } from '../../../trainer/rollout';
import { decodeTrajectories, type Trajectory, type TurnRecord } from '../../../trainer/trajectory';
import { trainInProcess } from '../../../trainer/in-process';

const env = createAppsEnvironment();
const pool = env.tasks('train').map((t) => t.id);
const withRecipe = env.tasks('train').filter((t) => t.template === 'delete_done_todos');
const head = withRecipe[0];
const WEIGHTS = { skillGeneration: 1, skillUse: 1 };

/** The expert as a PolicyRollout; `optionsAt(spec, position)` picks its options per chain position. */
function expertPlayer(optionsAt: (spec: RolloutSpec, position: number) => AppsExpertOptions, chainLength = 2): PolicyRollout {
  return async (environment, specs, opts) =>
    specs.map((spec) => {
      const episode = environment.createEpisode(spec.taskId, spec.seed, { maxTurns: opts.maxTurns });
      const agent = env.expert(spec.taskId, optionsAt(spec, spec.group % chainLength));
      const turns: TurnRecord[] = [];
      while (!episode.done) {
        const context = episode.context();
        const action = agent.act(episode);
        const r = episode.step(action);
        turns.push({ context, promptTokens: [], actionTokens: [], sampleLogProbs: [], action, observation: r.observation, error: r.error, nextContext: episode.context() });
      }
      return playedTrajectory(spec, episode, turns, opts.policyVersion);
    });
}

const SAMPLING = { temperature: 1, topP: 1, maxActionTokens: 48, policyVersion: 3 };
const heads = (taskId: string, samples: number, group = 0): RolloutSpec[] =>
  Array.from({ length: samples }, (_, sample) => ({ taskId, group, sample, seed: 100 + sample }));
const skillsAlways = () => ({ noise: 0, seed: 0, skills: true });

function summary(trajectories: Trajectory[]) {
  return trajectories.map((t) => ({ chain: t.chain, group: t.group, reward: t.reward, success: t.success, skills: t.skills }));
}

describe('SAGE chains', () => {
  test('chains follow the head through its scenario in pool order, wrapping, and refuse too-short scenarios', () => {
    const same = pool.filter((id) => env.task(id).scenario === head.scenario);
    expect(same.length).toBeGreaterThanOrEqual(3);
    expect(chainTasks(env, pool, same[0], 2)).toEqual([same[0], same[1]]);
    expect(chainTasks(env, pool, same.at(-1)!, 2)).toEqual([same.at(-1), same[0]]);
    expect(chainTasks(env, pool, same[0], 3)).toEqual(same.slice(0, 3));
    expect(() => chainTasks(env, pool, same[0], same.length + 1)).toThrow(`needs ${same.length + 1} distinct ones`);
    expect(() => chainTasks(env, pool.filter((id) => id !== same[0]), same[0], 2)).toThrow('is not in the training pool');
  });

  test('write in task 1, use in task 2, both solved: 2 and 2; groups are per chain position', async () => {
    const out = await chainRollout(env, expertPlayer(skillsAlways), heads(head.id, 1, 5), { ...SAMPLING, pool, chainLength: 2, weights: WEIGHTS });
    const [second] = chainTasks(env, pool, head.id, 2).slice(1);
    expect(out.map((t) => t.taskId)).toEqual([head.id, second]);
    expect(summary(out)).toEqual([
      { chain: { id: '5/0', position: 0, length: 2 }, group: 10, reward: 2, success: true, skills: { written: ['delete_done_todos'], used: ['delete_done_todos'] } },
      { chain: { id: '5/0', position: 1, length: 2 }, group: 11, reward: 2, success: true, skills: { written: [], used: ['delete_done_todos'] } },
    ]);
    expect(out[1].metrics).toMatchObject({ chain_position: 1, sage_outcome: 1, sage_generation: 0, sage_use: 1, library_skill_calls_ok: 1 });
    expect(out[0].metrics).toMatchObject({ chain_position: 0, sage_outcome: 1, sage_generation: 1, sage_use: 0 });
    expect(out.every((t) => t.policyVersion === 3)).toBe(true);
  });

  test('hand-computed chains: no reuse, a failed successor, other weights, a chain of 3', async () => {
    const noReuse = await chainRollout(env, expertPlayer((_, k) => ({ noise: 0, seed: 0, skills: k === 0 })), heads(head.id, 1), { ...SAMPLING, pool, chainLength: 2, weights: WEIGHTS });
    expect(noReuse.map((t) => t.reward)).toEqual([1, 1]); // written, never reused: outcome only
    // Task 2 calls task 1's skill but stops short of solving (habit): no credit either way.
    const failed = await chainRollout(env, expertPlayer((_, k) => ({ noise: 0, seed: 0, skills: true, habit: k === 1 ? 1 : 0 })), heads(head.id, 1), { ...SAMPLING, pool, chainLength: 2, weights: WEIGHTS });
    expect(failed.map((t) => [t.reward, t.success])).toEqual([[1, true], [0, false]]);
    const weighted = await chainRollout(env, expertPlayer(skillsAlways), heads(head.id, 1), { ...SAMPLING, pool, chainLength: 2, weights: { skillGeneration: 0.5, skillUse: 0.25 } });
    expect(weighted.map((t) => t.reward)).toEqual([1.5, 1.25]);
    const three = await chainRollout(env, expertPlayer(skillsAlways, 3), heads(head.id, 1), { ...SAMPLING, pool, chainLength: 3, weights: WEIGHTS });
    expect(three.map((t) => [t.chain!.position, t.group, t.reward])).toEqual([[0, 0, 2], [1, 1, 2], [2, 2, 2]]);
  });

  test('each sample is a chain of its own: a library never leaks to another sample or head', async () => {
    // Sample 0 writes the skill in task 1; sample 1 does not, so its task 2 finds an empty library and writes its own.
    const player = expertPlayer((spec, k) => ({ noise: 0, seed: 0, skills: spec.sample === 0 || k === 1 }));
    const specs = [...heads(head.id, 2), ...heads(withRecipe.find((t) => t.scenario !== head.scenario)!.id, 1, 1)];
    const out = await chainRollout(env, player, specs, { ...SAMPLING, pool, chainLength: 2, weights: WEIGHTS });
    const byChain = (id: string) => out.filter((t) => t.chain!.id === id).map((t) => ({ skills: t.skills, reward: t.reward }));
    expect(byChain('0/0')).toEqual([
      { skills: { written: ['delete_done_todos'], used: ['delete_done_todos'] }, reward: 2 },
      { skills: { written: [], used: ['delete_done_todos'] }, reward: 2 },
    ]);
    expect(byChain('0/1')).toEqual([
      { skills: { written: [], used: [] }, reward: 1 },
      { skills: { written: ['delete_done_todos'], used: ['delete_done_todos'] }, reward: 1 },
    ]);
    expect(byChain('1/0').map((t) => t.reward)).toEqual([2, 2]);
  });

  test('is deterministic, and the verifier replays every chain to the same rewards and skills', async () => {
    const player = expertPlayer((spec) => ({ noise: 0.4, seed: spec.seed, skills: true }));
    const specs = withRecipe.slice(0, 3).flatMap((t, g) => heads(t.id, 3, g));
    const run = () => chainRollout(env, player, specs, { ...SAMPLING, pool, chainLength: 2, weights: WEIGHTS });
    const [a, b] = [await run(), await run()];
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(new Set(a.map((t) => t.reward)).size).toBeGreaterThan(1); // noise makes the chains differ
    const verified = verifyChains(env, [...a].reverse(), { weights: WEIGHTS }).reverse();
    expect(verified.map((v) => [v.reward, v.episode.score().success, v.skills])).toEqual(a.map((t) => [t.reward, t.success, t.skills]));
  });

  test('the verifier refuses trajectories without a chain and chains with a missing position', async () => {
    const out = await chainRollout(env, expertPlayer(skillsAlways), heads(head.id, 1), { ...SAMPLING, pool, chainLength: 2, weights: WEIGHTS });
    expect(() => verifyChains(env, [out[0]], { weights: WEIGHTS })).toThrow('chain 0/0 has positions [0]; expected 0..1, each once');
    expect(() => verifyChains(env, [{ ...out[0], chain: undefined }], { weights: WEIGHTS })).toThrow('has no chain');
  });
});

describe('sage config', () => {
  const base = { runId: 'sage-test', env: 'apps', steps: 1 };

  test('defaults to chains of 2 with unit weights, and is off unless given', () => {
    expect(parseRunConfig({ ...base, sage: {} }).sage).toEqual({ chainLength: 2, skillGeneration: 1, skillUse: 1 });
    expect(parseRunConfig(base).sage).toBeUndefined();
  });

  test.each([
    [{ env: 'deepsearch' }, 'skills (and so SAGE) exist only in the apps environment, not deepsearch'],
    [{ algorithm: 'ppo' }, 'ppo has no groups'],
    [{ dynamicSampling: { refill: true } }, 'do not combine'],
    [{ tasks: { source: 'synthetic' } }, 'a generated stream has no chains'],
    [{ sage: { chainLength: 1 } }, 'chainLength'],
    [{ sage: { skillUse: -1 } }, 'skillUse'],
  ])('refuses %j', (over, message) => {
    expect(() => parseRunConfig({ ...base, sage: {}, ...over })).toThrow(message);
  });
  test('an llm policy trains with SAGE in process or on inference servers; gateway agents, which build episodes from ids, may not', () => {
    const llm = { kind: 'llm', model: 'smollm2-135m-instruct' };
    expect(parseRunConfig({ ...base, sage: {}, agent: { policy: llm } }).sage).toMatchObject({ chainLength: 2 });
    const gateway = { ...llm, rollout: { engine: 'gateway', url: 'http://127.0.0.1:8100/v1' } };
    expect(() => parseRunConfig({ ...base, sage: {}, agent: { policy: gateway } })).toThrow(/gateway agents build their episodes from task ids/);
  });
});

describe('a SAGE step of the builtin policy, in process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-sage-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('plays chains, verifies them with the SAGE reward, trains with GRPO and records chain and skills per row', async () => {
    const store = new LocalArtifactStore(dir);
    const config = parseRunConfig({
      runId: 'sage-step',
      env: 'apps',
      algorithm: 'grpo',
      steps: 1,
      tasksPerStep: 2,
      groupSize: 2,
      rolloutShards: 1,
      agent: {
        model: { layers: 1, heads: 2, width: 32, contextLength: 512 },
        base: { sftSteps: 3, demosPerTask: 1, sftBatchSize: 4 },
        sampling: { maxTurns: 2, temperature: 0.7 },
        ppo: { minibatchSegments: 4 },
      },
      evaluation: { tasks: 1 },
      sage: { chainLength: 2 },
    });
    const result = await trainInProcess(config, store);
    expect(result.policy.version).toBe(1);
    // 2 heads x 2 samples x 2 positions; groups are per (head, position).
    const rows = result.trajectories;
    expect(rows).toHaveLength(8);
    expect([...new Set(rows.map((r) => r.group))].sort()).toEqual([0, 1, 2, 3]);
    for (const r of rows) {
      expect(r.chainId).toBe(`${Math.floor(r.group / 2)}/${r.sample}`);
      expect(r.chainPosition).toBe(r.group % 2);
      expect(Array.isArray(r.skillsWritten) && Array.isArray(r.skillsUsed)).toBe(true);
      const head = rows.find((h) => h.chainId === r.chainId && h.chainPosition === 0)!;
      expect(env.task(r.taskId).scenario).toBe(env.task(head.taskId).scenario);
    }
    const stored = decodeTrajectories(await store.get(keys.step('sage-step', 0, 'rollouts/shard-000.json')));
    expect(stored.every((t) => t.chain !== undefined && t.metrics.chain_position === t.chain.position)).toBe(true);
  }, 600_000);
});
