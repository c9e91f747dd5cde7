/**
 * `ratchet sft <config>`: build a base checkpoint once (expert demonstrations -> tokenizer -> SFT) and print the
 * reference to put under `agent.base.checkpoint`, so several runs (algorithms, seeds) start from the same base.
 */
import { ArtifactStore, sha256 } from '../common/artifacts';
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { canonicalJson } from '../policy/checkpoint';
import { initBackend } from '../policy/backend';
import { hashSeed } from '../common/random';
import { disposeAgentState, initialAgentState, loadAgentState, saveAgentState } from '../trainer/agent-state';
import { buildBaseModel, habitStageSettings, type BaseModel } from '../trainer/base-model';
import { demonstrationWorlds } from '../trainer/phases';
import type { RunConfig } from '../config/run-config';

export interface BaseCheckpointOptions {
  store?: ArtifactStore;
  /** Reuse a checkpoint already built from the same settings (its key is a hash of them). */
  reuse?: boolean;
  log?: (line: string) => void;
}

/** The store key of a config's base: a hash of only what the base depends on, so RL settings (algorithm, lr,
 * temperature, SALT) can change and reuse it. */
export function baseKey(config: RunConfig): string {
  const { model, sampling } = config.agent;
  const agent = { model, base: { ...config.agent.base, checkpoint: null }, sampling: { maxTurns: sampling.maxTurns, maxActionTokens: sampling.maxActionTokens } };
  const settings = { env: config.env, split: config.split, seed: config.seed, options: config[config.env as 'apps' | 'deepsearch'], agent };
  return `base/${config.env}-${hashSeed(canonicalJson(settings)).toString(16)}.ckpt`;
}

export async function buildBaseCheckpoint(config: RunConfig, opts: BaseCheckpointOptions = {}): Promise<{ key: string; sha256: string }> {
  const store = opts.store ?? artifactStoreFromEnv();
  const log = opts.log ?? console.log;
  const backend = await initBackend({ quiet: true });
  const key = baseKey(config);
  if (opts.reuse && (await store.has(key))) {
    const bytes = await store.get(key);
    log(`reusing the base policy ${key}`);
    return { key, sha256: sha256(bytes) };
  }
  const { sftSteps, habitFinetune } = config.agent.base;
  const started = Date.now();
  const onStep = (label: string, total: number) => (step: number, loss: number) => {
    if (step % 20 === 0) log(`  ${label} step ${step}/${total}  loss ${loss.toFixed(3)}  ${((Date.now() - started) / 1000).toFixed(0)} s`);
  };
  let base: BaseModel;
  if (habitFinetune) {
    // The clean stage is a base checkpoint of its own (the key a config without the habit stage has), so a run
    // that changes only the habit stage reuses it: for apps that is an hour of SFT. Same weights as one pass.
    const clean = await buildBaseCheckpoint({ ...config, agent: { ...config.agent, base: { ...config.agent.base, habitFinetune: undefined } } }, { ...opts, store });
    const init = await loadAgentState(store, clean);
    init.policyOptimizer.dispose();
    log(`habit stage on ${clean.key}: ${habitFinetune.steps} SFT steps with habit ${habitFinetune.demoHabit}`);
    base = await buildBaseModel(demonstrationWorlds(config), habitStageSettings(config.agent), {
      split: config.split,
      seed: config.seed,
      init,
      onStep: onStep('habit', habitFinetune.steps),
    });
  } else {
    log(`building the base policy for ${config.env}/${config.split} on ${backend} (${sftSteps} SFT steps)`);
    base = await buildBaseModel(demonstrationWorlds(config), config.agent, { split: config.split, seed: config.seed, onStep: onStep('sft', sftSteps) });
  }
  log(
    `  ${base.sft.demos} demonstration turns (expert success ${(100 * base.sft.expertSuccess).toFixed(0)}%), ` +
      `held-out token accuracy ${(100 * base.sft.heldOutAccuracy).toFixed(1)}%, ${base.sft.tokensPerSecond.toFixed(0)} tokens/s`,
  );
  const state = initialAgentState(base.tokenizer, base.policy, { withCritic: false, seed: config.seed });
  const ref = await saveAgentState(store, key, state);
  disposeAgentState(state);
  return { key: ref.key, sha256: ref.sha256 };
}
