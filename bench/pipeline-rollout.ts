/**
 * Rollout efficiency for bench/pipeline.ts: the policy tokens a run's rollout activities sampled, and the raw
 * engine (OrtPolicy.generate, no Temporal, no environment) replaying exactly those batches: each shard's turns in
 * order, the run's prompts of that turn, the same sampling options and seed (trainer/rollout.ts's per-turn seed),
 * so the same tokens; the shards at once as the activities ran.
 */
import { artifactKeys } from '../common/artifact-keys';
import type { ArtifactStore } from '../common/artifacts';
import { hashSeed } from '../common/random';
import type { RunConfig } from '../config/run-config';
import { openPolicyBundle } from '../trainer/policy-bundle';
import { textEnvironment, type TextEnvName } from '../trainer/environments';
import { decodeTrajectories, type Trajectory } from '../trainer/trajectory';

/** One step's rollout shards, as the activities stored them. */
export async function stepShards(store: ArtifactStore, config: RunConfig, runId: string, step: number): Promise<Trajectory[][]> {
  return Promise.all(
    [...Array(config.rolloutShards).keys()].map(async (shard) => decodeTrajectories(await store.get(artifactKeys.rolloutShard(runId, step, shard)))),
  );
}

/** Sampled action tokens (what "policy tokens" counts). */
export const policyTokens = (shards: Trajectory[][]) => shards.flat().reduce((n, t) => n + t.turns.reduce((m, turn) => m + turn.actionTokens.length, 0), 0);

/** The raw engine on the same batches: tokens it generated and the wall time it took. */
export async function rawReplay(store: ArtifactStore, config: RunConfig, runId: string, shards: Trajectory[][]): Promise<{ tokens: number; ms: number }> {
  const version = shards.flat()[0].policyVersion;
  const { policy, tokenizer } = await openPolicyBundle(await store.get(artifactKeys.policy(runId, version)));
  const env = textEnvironment(config.env as TextEnvName, { apps: config.apps, deepsearch: config.deepsearch });
  const { temperature, topP, maxActionTokens } = config.agent.sampling;
  const opts = { temperature, topP, maxTokens: maxActionTokens, stopStrings: [...env.actionStops] };
  const batchesOf = (shard: Trajectory[]) => {
    const turns = Math.max(...shard.map((t) => t.turns.length));
    return [...Array(turns).keys()].map((turn) => shard.filter((t) => t.turns.length > turn).map((t) => t.turns[turn].promptTokens));
  };
  try {
    await policy.generate([batchesOf(shards[0])[0][0]], { ...opts, maxTokens: 2, seed: 0 }, tokenizer); // warm-up
    const started = performance.now();
    const counts = await Promise.all(
      shards.map(async (shard) => {
        let tokens = 0;
        for (const [turn, prompts] of batchesOf(shard).entries()) {
          const seed = hashSeed(`${shard.map((t) => t.seed).join(',')}/${turn}`); // as trainer/rollout.ts seeds a turn
          const out = await policy.generate(prompts, { ...opts, seed }, tokenizer);
          tokens += out.reduce((n, g) => n + g.tokens.length, 0);
        }
        return tokens;
      }),
    );
    return { tokens: counts.reduce((a, b) => a + b, 0), ms: performance.now() - started };
  } finally {
    await policy.release();
  }
}
