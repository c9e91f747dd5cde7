/**
 * Evaluation in chains (trainer/chain-evaluation.ts, config `evaluation.chains`): each scenario's tasks play in split
 * order with one skill library, so a skill the first task wrote is called by the next ones; without chains every
 * task starts from an empty library and writes its own. The player is the scripted expert writing skills, so what
 * each chain does is known exactly; the evaluation's metrics count the skills written and used.
 */
import { parseRunConfig } from '../../../config/run-config';
import { createAppsEnvironment } from '../../../envs/apps';
import { inScenarioChains } from '../../../trainer/chain-evaluation';
import { evaluatePolicy } from '../../../trainer/evaluate';
import { playedTrajectory, type PolicyRollout } from '../../../trainer/rollout';
import type { TurnRecord } from '../../../trainer/trajectory';

const env = createAppsEnvironment();
// Two scenarios of a template with a skill recipe, all of their test_normal tasks, in split order.
const recipe = env.tasks('test_normal').filter((t) => t.template === 'delete_done_todos');
const scenarios = [...new Set(recipe.map((t) => t.scenario))].slice(0, 2);
const tasks = env.tasks('test_normal').filter((t) => scenarios.includes(t.scenario));

const expert: PolicyRollout = async (environment, specs, opts) =>
  specs.map((spec) => {
    const episode = environment.createEpisode(spec.taskId, spec.seed, { maxTurns: opts.maxTurns });
    const agent = env.expert(spec.taskId, { noise: 0, seed: 0, skills: true });
    const turns: TurnRecord[] = [];
    while (!episode.done) {
      const context = episode.context();
      const action = agent.act(episode);
      const r = episode.step(action);
      turns.push({ context, promptTokens: [], actionTokens: [1, 2], sampleLogProbs: [0, 0], action, observation: r.observation, error: r.error, nextContext: episode.context() });
    }
    return playedTrajectory(spec, episode, turns, opts.policyVersion);
  });

const OPTIONS = { mode: 'greedy' as const, k: 1, sampling: { temperature: 0, topP: 1, maxActionTokens: 48, maxTurns: 30 }, seed: 4, policyVersion: 2 };

test("a scenario's tasks share one library in split order: the first writes the skill, the later ones only call it", async () => {
  expect(scenarios).toHaveLength(2);
  expect(tasks.length).toBeGreaterThanOrEqual(4);
  const chained = await evaluatePolicy(env, inScenarioChains(env, expert), tasks, OPTIONS);
  const alone = await evaluatePolicy(env, expert, tasks, OPTIONS);

  for (const scenario of scenarios) {
    const played = chained.trajectories.filter((t) => env.task(t.taskId).scenario === scenario);
    expect(played.map((t) => t.taskId)).toEqual(tasks.filter((t) => t.scenario === scenario).map((t) => t.id));
    expect(played.map((t) => t.chain)).toEqual(played.map((_, position) => ({ id: `${scenario}/0`, position, length: played.length })));
    expect(played[0].skills!.written).toHaveLength(1);
    expect(played[0].skills!.used).toEqual(played[0].skills!.written);
    for (const later of played.slice(1)) expect(later.skills).toEqual({ written: [], used: played[0].skills!.written });
    // The chain's later tasks skip the writing: fewer turns than the same tasks played alone.
    const solo = alone.trajectories.filter((t) => env.task(t.taskId).scenario === scenario);
    for (const [k, later] of played.entries()) if (k > 0) expect(later.turns.length).toBeLessThan(solo[k].turns.length);
  }
  expect(chained.metrics.success).toBe(1);
  expect(chained.metrics.sgc).toBe(1);
  expect(chained.metrics.skillsWritten).toBeCloseTo(scenarios.length / tasks.length);
  expect(chained.metrics.skillsUsed).toBe(1);
  expect(chained.metrics.meanTurns).toBeLessThan(alone.metrics.meanTurns);
  expect(chained.metrics.meanTokens).toBe(2 * chained.metrics.meanTurns);
  expect(alone.metrics).not.toHaveProperty('skillsWritten'); // tasks played alone carry no skill record
});

test('evaluation.chains is an apps setting', () => {
  expect(parseRunConfig({ runId: 'r', steps: 1, env: 'apps', evaluation: { chains: true } }).evaluation.chains).toBe(true);
  expect(() => parseRunConfig({ runId: 'r', steps: 1, env: 'deepsearch', evaluation: { chains: true } })).toThrow(/evaluation.chains: skill libraries .* only in the apps environment/);
});
