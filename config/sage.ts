/**
 * SAGE training (issue 32; rl/sage.ts): each task a step draws heads a chain of `chainLength` tasks of its scenario,
 * played in order with one skill library per chain, and each task's reward is the skill-integrated one. Pure zod.
 */
import { z } from 'zod';
import { GROUP_ESTIMATORS } from './agent';

export const SageConfigSchema = z.strictObject({
  /** Tasks per chain (the paper's 2: longer chains were no better). */
  chainLength: z.int().min(2).max(8).default(2),
  /** Credit to task k for a skill it wrote that task k+1 used successfully, both succeeding. */
  skillGeneration: z.number().min(0).max(100).default(1),
  /** Credit to a successful task that used a skill from its library. */
  skillUse: z.number().min(0).max(100).default(1),
});
export type SageConfig = z.output<typeof SageConfigSchema>;

interface SageFields {
  env: string;
  algorithm: string;
  sage?: SageConfig;
  agent: { policy: { kind: string; rollout?: { engine: string } } };
  dynamicSampling: { refill?: boolean };
  tasks: { source: string };
}

/** What SAGE needs of the rest of the run config; each refusal says why. */
export function checkSage(config: SageFields, ctx: z.RefinementCtx): void {
  if (!config.sage) return;
  const refuse = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (config.env !== 'apps') refuse(['sage'], `skills (and so SAGE) exist only in the apps environment, not ${config.env}`);
  if (config.agent.policy.rollout?.engine === 'gateway') {
    refuse(['sage'], 'SAGE hands each chain\'s skill library from one episode to the next inside the rollout; gateway agents build their episodes from task ids, without it');
  }
  if (!GROUP_ESTIMATORS.includes(config.algorithm)) {
    refuse(['algorithm'], `SAGE compares the rollouts of each chain position as a group (${GROUP_ESTIMATORS.join(', ')}); ${config.algorithm} has no groups`);
  }
  if (config.dynamicSampling.refill) {
    refuse(['dynamicSampling', 'refill'], 'refill counts one group per drawn task; a SAGE chain makes chainLength groups, so the two do not combine');
  }
  if (config.tasks.source !== 'fixed') refuse(['tasks', 'source'], 'SAGE chains are built from the fixed split\'s scenarios; a generated stream has no chains');
}

/** An agent that keeps a skill library (SAGE training, chained evaluation) is told the skill actions and shown them. */
export const agentUsesSkills = (config: { sage?: SageConfig; evaluation: { chains?: boolean } }): boolean =>
  config.sage !== undefined || config.evaluation.chains === true;
