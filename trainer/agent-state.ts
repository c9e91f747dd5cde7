/**
 * Everything the trainer keeps between steps, as one deterministic checkpoint: policy and critic with their
 * AdamW moments, the tokenizer, and the step. Same state -> same bytes -> same sha256, which is how a resumed
 * run is checked against an uninterrupted one.
 */
import type { ArtifactRef, ArtifactStore } from '../common/artifacts';
import { Checkpoint, loadCheckpoint, modelState, restoreModel, saveCheckpoint } from '../policy/checkpoint';
import { createCritic, disposeModel, Model } from '../policy/model';
import { AdamW } from '../policy/optim';
import { Tokenizer, TokenizerJSON } from '../policy/tokenizer';

export interface AgentState {
  step: number;
  tokenizer: Tokenizer;
  policy: Model;
  policyOptimizer: AdamW;
  critic?: Model;
  criticOptimizer?: AdamW;
}

/** A fresh trainer state around a base policy (new optimizers; a critic when the algorithm needs one). */
export function initialAgentState(tokenizer: Tokenizer, policy: Model, opts: { withCritic: boolean; seed: number }): AgentState {
  const critic = opts.withCritic ? createCritic(policy.config, opts.seed) : undefined;
  return {
    step: 0,
    tokenizer,
    policy,
    policyOptimizer: new AdamW(policy.weights, { weightDecay: 0 }),
    critic,
    criticOptimizer: critic ? new AdamW(critic.weights, { weightDecay: 0 }) : undefined,
  };
}

export function toCheckpoint(state: AgentState): Checkpoint {
  const models: Checkpoint['models'] = { policy: modelState(state.policy, state.policyOptimizer) };
  if (state.critic) models.critic = modelState(state.critic, state.criticOptimizer);
  return { step: state.step, models, rng: null, meta: { tokenizer: state.tokenizer.toJSON() as unknown as Record<string, string[]> } };
}

export function fromCheckpoint(ckpt: Checkpoint): AgentState {
  const meta = ckpt.meta as { tokenizer?: TokenizerJSON } | undefined;
  if (!meta?.tokenizer) throw new Error('checkpoint has no tokenizer: not an agent checkpoint');
  const policy = restoreModel(ckpt.models.policy);
  const critic = ckpt.models.critic ? restoreModel(ckpt.models.critic) : undefined;
  return {
    step: ckpt.step,
    tokenizer: Tokenizer.fromJSON(meta.tokenizer),
    policy: policy.model,
    policyOptimizer: policy.optimizer ?? new AdamW(policy.model.weights, { weightDecay: 0 }),
    critic: critic?.model,
    criticOptimizer: critic ? (critic.optimizer ?? new AdamW(critic.model.weights, { weightDecay: 0 })) : undefined,
  };
}

export async function saveAgentState(store: ArtifactStore, key: string, state: AgentState): Promise<ArtifactRef> {
  return saveCheckpoint(store, key, toCheckpoint(state));
}

export async function loadAgentState(store: ArtifactStore, ref: { key: string; sha256: string }): Promise<AgentState> {
  return fromCheckpoint(await loadCheckpoint(store, ref));
}

export function disposeAgentState(state: AgentState): void {
  disposeModel(state.policy);
  state.policyOptimizer.dispose();
  if (state.critic) disposeModel(state.critic);
  state.criticOptimizer?.dispose();
}
