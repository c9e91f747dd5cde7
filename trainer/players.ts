/**
 * The published version `ref` as a player of episodes: the built-in ONNX policy, or a chat LLM through its template,
 * in process, on inference servers (synced to the version and checked first; step 0's check fails fast), or by your
 * own agents through `ratchet gateway`.
 */
import type { RunConfig } from '../config/run-config';
import { agentUsesSkills } from '../config/sage';
import { versionName } from '../common/version-name';
import { LlmPolicyCache } from '../policy/llm/llm-policy';
import { episodeIdPart, gatewayRollout } from '../policy/llm/gateway-rollout';
import { ServedPolicies } from '../policy/llm/served-policy';
import { chatPromptFor, llmRollout } from './llm-rollout';
import type { PhaseContext } from './phases';
import { builtinRollout, type PolicyRollout } from './rollout';

export interface PlayedBatch {
  runId: string;
  step: number;
  /** Which batch of the step: `s<step>` for training rollouts, `e<step>.<split>.<mode>` for an evaluation. */
  batch: string;
}

export async function playerFor(ctx: PhaseContext, config: RunConfig, ref: { key: string; sha256: string; version: number }, run: PlayedBatch): Promise<PolicyRollout> {
  const { policy: kind } = config.agent;
  const chat = () => ({ shots: kind.kind === 'llm' ? kind.shots : 0, chatPrompt: chatPromptFor(config.env, { skills: agentUsesSkills(config) }) });
  if (kind.kind === 'llm' && kind.rollout.engine === 'openai') {
    ctx.servedPolicies ??= new ServedPolicies();
    return llmRollout(await ctx.servedPolicies.get(kind.rollout, kind.model, run.runId, ref.version, { atRunStart: run.step === 0 }), chat());
  }
  if (kind.kind === 'llm' && kind.rollout.engine === 'gateway') {
    const env = config.env as 'apps' | 'deepsearch';
    return gatewayRollout(kind.rollout, {
      prefix: `${run.runId}.${episodeIdPart(run.batch)}`,
      model: versionName({ runId: run.runId, version: ref.version }),
      settings: config[env],
      chatPrompt: chatPromptFor(env),
      atRunStart: run.step === 0,
    });
  }
  if (kind.kind === 'llm') {
    ctx.llmPolicies ??= new LlmPolicyCache(ctx.store);
    return llmRollout(await ctx.llmPolicies.get(ref, kind.model), chat());
  }
  const { policy, tokenizer } = await ctx.policies.get(ref);
  return builtinRollout(policy, tokenizer);
}
