/**
 * What one rollout leaves behind: every turn's context, the sampled action tokens with their log-probs, and the
 * environment's answer; then the verifier's reward. Stored as JSON in the artifact store; Temporal and Postgres
 * only see its key, hash and summary numbers.
 */
import type { FinishReason } from '../envs/types';

export interface TurnRecord {
  /** The context the policy saw (the environment's context policy applied). */
  context: string;
  /** Its tokens as fed to the model: bos + encoded prompt, cut from the left to fit the window. */
  promptTokens: number[];
  /** The sampled action tokens (exactly what the model produced, stop string included). */
  actionTokens: number[];
  /** log π(token) at sampling time, one per action token (the trainer recomputes them; kept for audit). */
  sampleLogProbs: number[];
  /** The action text sent to the environment. */
  action: string;
  observation: string;
  error: boolean;
  /** The context after this turn: with `context` and `action`, one transition of the SALT trajectory graph. */
  nextContext: string;
}

/** Where a SAGE trajectory sits: its chain (unique within the step), its position there, and the chain's length. */
export interface ChainRef {
  id: string;
  position: number;
  length: number;
}

/** Skills an apps episode wrote, and those it called successfully (in call order). */
export interface SkillRecord {
  written: string[];
  used: string[];
}

export interface Trajectory {
  taskId: string;
  /** Index of the task within the step (rollouts of one task share a group). */
  group: number;
  /** Index of the rollout within its group. */
  sample: number;
  seed: number;
  policyVersion: number;
  turns: TurnRecord[];
  reward: number;
  success: boolean;
  finishReason: FinishReason;
  /** Actions the environment answered with an error observation. */
  envErrors: number;
  metrics: Record<string, number>;
  /** SAGE steps (config `sage`): the chain this episode belongs to, and what it did with skills. */
  chain?: ChainRef;
  skills?: SkillRecord;
}

export function encodeTrajectories(trajectories: Trajectory[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(trajectories));
}

export function decodeTrajectories(bytes: Uint8Array): Trajectory[] {
  return JSON.parse(new TextDecoder().decode(bytes)) as Trajectory[];
}
