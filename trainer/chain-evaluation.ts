/**
 * Evaluation in chains (config `evaluation.chains`, apps; issue 32): the chosen tasks of each scenario play in split
 * order as one chain that shares a skill library, as AppWorld evaluates a skill-writing agent (SAGE's SGC counts a
 * scenario solved when all of its tasks are). Without it every task starts from an empty library, and a skill
 * written in one task can never pay off in the next. Each sample index (pass@k) is a chain of its own.
 */
import type { AppsEnvironment, AppsEpisode, SkillLibrary } from '../envs/apps';
import { episodeKey, positionEnvironment, skillRecord } from './chain-rollout';
import type { PolicyRollout, RolloutSpec } from './rollout';
import type { Trajectory } from './trajectory';

/** `play` with the specs of each (scenario, sample) played in order, position by position, each from its chain's library. */
export function inScenarioChains(env: AppsEnvironment, play: PolicyRollout): PolicyRollout {
  return async (_env, specs, opts) => {
    const chains = new Map<string, number[]>();
    specs.forEach((spec, i) => {
      const key = `${env.task(spec.taskId).scenario}/${spec.sample}`;
      chains.set(key, [...(chains.get(key) ?? []), i]);
    });
    const out: Trajectory[] = new Array(specs.length);
    const last = new Map<string, AppsEpisode>(); // each chain's latest episode
    const length = Math.max(0, ...[...chains.values()].map((c) => c.length));
    for (let position = 0; position < length; position++) {
      const libraries = new Map<string, SkillLibrary>();
      const created = new Map<string, AppsEpisode>();
      const batch: { chain: string; index: number; spec: RolloutSpec }[] = [];
      for (const [chain, members] of chains) {
        const index = members[position];
        if (index === undefined) continue;
        const spec = specs[index];
        const previous = last.get(chain);
        if (previous) libraries.set(episodeKey(spec.taskId, spec.seed), previous.skills);
        batch.push({ chain, index, spec });
      }
      const played = await play(positionEnvironment(env, libraries, created), batch.map((b) => b.spec), opts);
      const byKey = new Map(played.map((t) => [episodeKey(t.taskId, t.seed), t]));
      batch.forEach(({ chain, index, spec }) => {
        const key = episodeKey(spec.taskId, spec.seed);
        const [episode, trajectory] = [created.get(key), byKey.get(key)];
        if (!episode || !trajectory) throw new Error(`evaluation chain ${chain}: the policy did not play ${key}`);
        last.set(chain, episode);
        out[index] = { ...trajectory, chain: { id: chain, position, length: chains.get(chain)!.length }, skills: skillRecord(episode) };
      });
    }
    return out;
  };
}
