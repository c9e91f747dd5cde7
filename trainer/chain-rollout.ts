/**
 * SAGE rollouts (issue 32; rl/sage.ts): each drawn task heads a chain of `chainLength` tasks of its scenario.
 * Position k of every chain runs as one batch through the ordinary PolicyRollout; the episode of position k starts
 * from the skill library its chain's position k-1 ended with, so each chain (one per head and sample) has a
 * library of its own. Each task's reward is the skill-integrated one, computed over its chain.
 *
 * Groups: the rollouts of one chain position form a group (group = headGroup * chainLength + position), so the
 * group estimator compares like with like: the same task, played from libraries of the same chain position.
 */
import { hashSeed } from '../common/random';
import type { AppsEnvironment, AppsEpisode, SkillLibrary } from '../envs/apps';
import type { Environment } from '../envs/types';
import { sageRewards, type SageWeights } from '../rl/sage';
import type { PolicyRollout, RolloutOptions, RolloutSpec } from './rollout';
import type { SkillRecord, Trajectory } from './trajectory';

/**
 * The chain headed by `head`: it, then the next `length - 1` tasks of its scenario in `pool` order (wrapping
 * around). Throws when the pool holds too few tasks of that scenario.
 */
export function chainTasks(env: Environment, pool: readonly string[], head: string, length: number): string[] {
  const scenario = env.task(head).scenario;
  const same = pool.filter((id) => env.task(id).scenario === scenario);
  const at = same.indexOf(head);
  if (at < 0) throw new Error(`chain head ${head} is not in the training pool`);
  if (same.length < length) {
    throw new Error(`scenario ${scenario} has ${same.length} task(s) in the training pool; a SAGE chain of ${length} needs ${length} distinct ones`);
  }
  return Array.from({ length }, (_, k) => same[(at + k) % same.length]);
}

/** What an episode wrote and which skills it called successfully, as trajectory rows record it. */
export function skillRecord(episode: AppsEpisode): SkillRecord {
  const { written, calls } = episode.skillUse;
  return { written: [...written], used: calls.filter((c) => c.ok).map((c) => c.name) };
}

/** The SAGE reward of each episode of one chain (in chain order), as the trajectory's reward and metrics. */
function chainRewards(chain: readonly AppsEpisode[], weights: SageWeights): { reward: number; metrics: Record<string, number> }[] {
  const rewards = sageRewards(
    chain.map((ep) => ({ ...ep.score(), skillCalls: ep.skillUse.calls })),
    weights,
  );
  return rewards.map((r, position) => ({
    reward: r.total,
    metrics: { chain_position: position, sage_outcome: r.outcome, sage_generation: r.generation, sage_use: r.use },
  }));
}

const episodeKey = (taskId: string, seed: number) => `${taskId}#${seed}`;

/**
 * The apps environment as one chain position's rollout sees it: each episode gets the library its chain carries
 * (looked up by task and seed, which are unique within a position) and is kept for the caller to read back.
 */
function positionEnvironment(env: AppsEnvironment, libraries: ReadonlyMap<string, SkillLibrary>, created: Map<string, AppsEpisode>): Environment {
  return {
    ...env,
    createEpisode(taskId, seed, opts) {
      const key = episodeKey(taskId, seed);
      if (created.has(key)) throw new Error(`chain rollout: episode ${key} was created twice in one chain position`);
      const episode = env.createEpisode(taskId, seed, { ...opts, skills: libraries.get(key) });
      created.set(key, episode);
      return episode;
    },
  };
}

/**
 * Plays chains of episodes position by position: position k of every chain that has one runs as one batch through
 * `play`, each episode from the skill library its chain's episode k-1 ended with. Returns each chain's episodes and
 * trajectories in chain order. Specs must be unique by (task, seed) within a position.
 */
export async function playChains(
  env: AppsEnvironment,
  play: PolicyRollout,
  chains: readonly (readonly RolloutSpec[])[],
  opts: RolloutOptions,
): Promise<{ episode: AppsEpisode; trajectory: Trajectory }[][]> {
  const played = chains.map(() => [] as { episode: AppsEpisode; trajectory: Trajectory }[]);
  const length = Math.max(0, ...chains.map((chain) => chain.length));
  for (let position = 0; position < length; position++) {
    const members = chains.flatMap((chain, i) => (position < chain.length ? [i] : []));
    const libraries = new Map<string, SkillLibrary>();
    const created = new Map<string, AppsEpisode>();
    for (const i of members) {
      const previous = played[i][position - 1];
      if (previous) libraries.set(episodeKey(chains[i][position].taskId, chains[i][position].seed), previous.episode.skills);
    }
    const out = await play(positionEnvironment(env, libraries, created), members.map((i) => chains[i][position]), opts);
    const byKey = new Map(out.map((t) => [episodeKey(t.taskId, t.seed), t]));
    for (const i of members) {
      const key = episodeKey(chains[i][position].taskId, chains[i][position].seed);
      const episode = created.get(key);
      const trajectory = byKey.get(key);
      if (!episode || !trajectory) throw new Error(`chain rollout: the policy did not play ${key}`);
      played[i].push({ episode, trajectory });
    }
  }
  return played;
}

interface ChainRolloutOptions extends RolloutOptions {
  /** The tasks chains are built from (the run's training pool), in a fixed order. */
  pool: readonly string[];
  chainLength: number;
  weights: SageWeights;
}

/** Plays one chain per head spec (its taskId heads the chain; its seed seeds the chain) and returns every episode's trajectory, SAGE-rewarded. */
export async function chainRollout(env: AppsEnvironment, play: PolicyRollout, heads: readonly RolloutSpec[], opts: ChainRolloutOptions): Promise<Trajectory[]> {
  const { pool, chainLength, weights, ...rolloutOpts } = opts;
  const chains = heads.map((head) =>
    chainTasks(env, pool, head.taskId, chainLength).map((taskId, position) => ({
      taskId,
      group: head.group * chainLength + position,
      sample: head.sample,
      seed: position === 0 ? head.seed : hashSeed(`${head.seed}/chain/${position}`),
    })),
  );
  const played = await playChains(env, play, chains, rolloutOpts);
  return played.flatMap((chain, i) => {
    const rewards = chainRewards(chain.map((p) => p.episode), weights);
    return chain.map(({ episode, trajectory }, position): Trajectory => ({
      ...trajectory,
      chain: { id: `${heads[i].group}/${heads[i].sample}`, position, length: chainLength },
      skills: skillRecord(episode),
      reward: rewards[position].reward,
      metrics: { ...trajectory.metrics, ...rewards[position].metrics },
    }));
  });
}

interface VerifiedChainEpisode {
  episode: AppsEpisode;
  reward: number;
  metrics: Record<string, number>;
  skills: SkillRecord;
}

/**
 * The verifier's side: replays every chain's actions in fresh episodes, in chain order, each from the library
 * its chain's previous replayed episode ended with, and scores them with the SAGE reward. Results are in the
 * order of `trajectories`. Throws on a trajectory without a chain, or a chain with a missing or repeated position.
 */
export function verifyChains(
  env: AppsEnvironment,
  trajectories: readonly Trajectory[],
  opts: { maxTurns?: number; weights: SageWeights },
): VerifiedChainEpisode[] {
  const chains = new Map<string, number[]>();
  trajectories.forEach((t, i) => {
    if (!t.chain) throw new Error(`trajectory ${t.group}/${t.sample} (${t.taskId}) has no chain; SAGE steps record one on every trajectory`);
    chains.set(t.chain.id, [...(chains.get(t.chain.id) ?? []), i]);
  });
  const results: VerifiedChainEpisode[] = new Array(trajectories.length);
  for (const [id, members] of chains) {
    members.sort((a, b) => trajectories[a].chain!.position - trajectories[b].chain!.position);
    const positions = members.map((i) => trajectories[i].chain!.position);
    const length = trajectories[members[0]].chain!.length;
    if (positions.length !== length || positions.some((p, k) => p !== k)) {
      throw new Error(`chain ${id} has positions [${positions.join(', ')}]; expected 0..${length - 1}, each once`);
    }
    const episodes: AppsEpisode[] = [];
    for (const i of members) {
      const t = trajectories[i];
      const episode = env.createEpisode(t.taskId, t.seed, { maxTurns: opts.maxTurns, skills: episodes.at(-1)?.skills });
      for (const turn of t.turns) episode.step(turn.action);
      episodes.push(episode);
    }
    const rewards = chainRewards(episodes, opts.weights);
    members.forEach((i, k) => {
      results[i] = { episode: episodes[k], reward: rewards[k].reward, metrics: { ...episodes[k].score().metrics, ...rewards[k].metrics }, skills: skillRecord(episodes[k]) };
    });
  }
  return results;
}
