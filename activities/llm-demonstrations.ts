/**
 * writeDemonstrations (cpu queue): an LLM run's format-SFT data (`agent.policy.sft`), the expert's chats
 * tokenized by the TypeScript side that owns the environments and the tokenizer, written as one artifact the
 * Python worker's initPolicy trains on. Deterministic from the config, so a retry writes the same bytes.
 */
import { ApplicationFailure } from '@temporalio/common';
import { artifactKeys } from '../common/artifact-keys';
import { agentUsesSkills } from '../config/sage';
import { putJson } from '../common/artifacts';
import { llmModelFacts } from '../policy/llm/llm-policy';
import { ModelRefError, resolveModelRef } from '../policy/llm/models';
import { loadLlmTokenizer } from '../policy/llm/tokenizer';
import { llmDemonstrations } from '../trainer/llm-demonstrations';
import { chatPromptFor } from '../trainer/llm-rollout';
import { envOf } from '../trainer/phases';
import type { CpuActivities } from './contract';
import { type ActivityDeps, heartbeat } from './deps';

export function createDemonstrationActivities(deps: ActivityDeps): Pick<CpuActivities, 'writeDemonstrations'> {
  return {
    async writeDemonstrations({ runId, config }) {
      const policy = config.agent.policy;
      if (policy.kind !== 'llm' || !policy.sft) {
        throw ApplicationFailure.nonRetryable(`writeDemonstrations: run ${runId} asks for no LLM SFT (agent.policy.sft)`, 'InvalidRunConfig');
      }
      // The model and its window: an unknown, unpulled or malformed model is a config error a retry cannot fix.
      let model;
      let contextLength;
      try {
        model = resolveModelRef(policy.model);
        contextLength = llmModelFacts(model).contextLength;
      } catch (err) {
        if (err instanceof ModelRefError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidRunConfig');
        throw err;
      }
      heartbeat({ phase: 'demonstrations' });
      const env = envOf(config);
      const taskIds = env.tasks(config.split).map((t) => t.id);
      const { sft } = policy;
      const skills = agentUsesSkills(config);
      const demonstrations = llmDemonstrations(env, loadLlmTokenizer(model), chatPromptFor(env.name, { skills }), sft.tasks ? taskIds.slice(0, sft.tasks) : taskIds, {
        skills,
        perTask: sft.demosPerTask,
        noise: sft.demoNoise,
        seed: config.seed,
        shots: policy.shots,
        contextLength,
      });
      return putJson(deps.store, artifactKeys.demonstrations(runId), demonstrations);
    },
  };
}
