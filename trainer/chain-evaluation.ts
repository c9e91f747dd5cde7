/**
 * Evaluation in chains (config `evaluation.chains`, apps; issue 32): the chosen tasks of each scenario play in split
 * order as one chain that shares a skill library, as AppWorld evaluates a skill-writing agent (SAGE's SGC counts a
 * scenario solved when all of its tasks are). Without it every task starts from an empty library, and a skill
 * written in one task can never pay off in the next. Each sample index (pass@k) is a chain of its own.
 */
import type { AppsEnvironment } from '../envs/apps';
import { playChains, skillRecord } from './chain-rollout';
import type { PolicyRollout } from './rollout';
import type { Trajectory } from './trajectory';

/** `play` with the specs of each (scenario, sample) played in order as one chain (trainer/chain-rollout.ts playChains). */
export function inScenarioChains(env: AppsEnvironment, play: PolicyRollout): PolicyRollout {
  return async (_env, specs, opts) => {
    const chains = new Map<string, number[]>();
    specs.forEach((spec, i) => {
      const key = `${env.task(spec.taskId).scenario}/${spec.sample}`;
      chains.set(key, [...(chains.get(key) ?? []), i]);
    });
    const entries = [...chains];
    const played = await playChains(env, play, entries.map(([, members]) => members.map((i) => specs[i])), opts);
    const out: Trajectory[] = new Array(specs.length);
    entries.forEach(([id, members], c) =>
      members.forEach((index, position) => {
        const { episode, trajectory } = played[c][position];
        out[index] = { ...trajectory, chain: { id, position, length: members.length }, skills: skillRecord(episode) };
      }),
    );
    return out;
  };
}
