/**
 * `ratchet sft <config>`: build a base checkpoint once (expert demonstrations -> tokenizer -> SFT) and print the
 * reference to put under `agent.base.checkpoint`, so several runs (algorithms, seeds) start from the same base.
 */
import { ArtifactStore, LocalArtifactStore, sha256 } from '../common/artifacts';
import { canonicalJson } from '../policy/checkpoint';
import { initBackend } from '../policy/backend';
import { hashSeed } from '../common/random';
import { initialAgentState, saveAgentState } from '../trainer/agent-state';
import { buildBaseModel } from '../trainer/base-model';
import { demonstrationWorlds } from '../trainer/phases';
import { artifactsDir } from '../infra/paths';
import type { RunConfig } from '../workflows/config';

export interface BaseCheckpointOptions {
  store?: ArtifactStore;
  /** Reuse a checkpoint already built from the same settings (its key is a hash of them). */
  reuse?: boolean;
  log?: (line: string) => void;
}

export async function buildBaseCheckpoint(config: RunConfig, opts: BaseCheckpointOptions = {}): Promise<{ key: string; sha256: string }> {
  const store = opts.store ?? new LocalArtifactStore(artifactsDir());
  const log = opts.log ?? console.log;
  const backend = await initBackend({ quiet: true });
  // The key hashes only what the base depends on, so RL settings (algorithm, lr, temperature, SALT) can change and reuse it.
  const { model, sampling } = config.agent;
  const agent = { model, base: { ...config.agent.base, checkpoint: null }, sampling: { maxTurns: sampling.maxTurns, maxActionTokens: sampling.maxActionTokens } };
  const settings = { env: config.env, split: config.split, seed: config.seed, options: config[config.env as 'apps' | 'deepsearch'], agent };
  const key = `base/${config.env}-${hashSeed(canonicalJson(settings)).toString(16)}.ckpt`;
  if (opts.reuse && (await store.has(key))) {
    const bytes = await store.get(key);
    log(`reusing the base policy ${key}`);
    return { key, sha256: sha256(bytes) };
  }
  const { sftSteps, habitFinetune } = config.agent.base;
  const totalSteps = sftSteps + (habitFinetune?.steps ?? 0);
  log(`building the base policy for ${config.env}/${config.split} on ${backend} (${sftSteps} SFT steps${habitFinetune ? `, then ${habitFinetune.steps} with the habit` : ''})`);
  const started = Date.now();
  const base = await buildBaseModel(demonstrationWorlds(config), config.agent, {
    split: config.split,
    seed: config.seed,
    onStep: (step, loss) => {
      if (step % 20 === 0) log(`  sft step ${step}/${totalSteps}  loss ${loss.toFixed(3)}  ${((Date.now() - started) / 1000).toFixed(0)} s`);
    },
  });
  log(
    `  ${base.sft.demos} demonstration turns (expert success ${(100 * base.sft.expertSuccess).toFixed(0)}%), ` +
      `held-out token accuracy ${(100 * base.sft.heldOutAccuracy).toFixed(1)}%, ${base.sft.tokensPerSecond.toFixed(0)} tokens/s`,
  );
  const state = initialAgentState(base.tokenizer, base.policy, { withCritic: false, seed: config.seed });
  const ref = await saveAgentState(store, key, state);
  return { key: ref.key, sha256: ref.sha256 };
}
