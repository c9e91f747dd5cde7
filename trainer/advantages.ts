/**
 * computeAdvantages' domain half: outcome rewards (plus an optional KL penalty) -> per-token advantages in row
 * space, with the estimator the config names. Every formula lives in rl/; this file only chooses and wires.
 */
import {
  applyKlPenalty,
  broadcastToTokens,
  computeGae,
  drGrpoAdvantages,
  filterInformativeGroups,
  gigpoStepAdvantages,
  grpoAdvantages,
  indicesByGroup,
  loopAdvantages,
  Matrix,
  maskedWhiten,
  placeTerminalRewards,
  reinforcePlusPlusBaselineAdvantages,
  rlooAdvantages,
  rowSums,
  stepLevelBatchAdvantages,
  type StepGrouping,
} from '../rl';
import { type AgentAlgorithm, type AgentTraining, GROUP_ESTIMATORS } from '../config/agent';
import type { Scores } from './score';
import { rowMask } from './segments';
import type { Trajectory } from './trajectory';

export interface Advantages {
  advantages: Matrix;
  /** Value targets (PPO with a critic only). */
  returns?: Matrix;
  /**
   * Trajectories to train on. Group estimators drop groups whose rewards are all equal (DAPO's dynamic
   * sampling): their advantages are zero, yet their tokens would dilute a token-mean loss and feed the KL term,
   * and Adam turns such near-zero gradients into full-size steps. LOOP also drops those with |A| < 0.01.
   * With GiGPO a trajectory whose step term ω·A^S is not 0 is kept too, in a flat group as anywhere (see
   * `gigpoSignalled`).
   */
  keep: number[];
  flatGroups: number;
  meanKl: number;
}

/**
 * The trajectories whose log-probs and values the update can use: for the group estimators the informative
 * groups and, with GiGPO, the trajectories with a step-level signal (computeAdvantages keeps no others), so
 * scoreBatch can skip the rest of the flat groups (on a base that solves few tasks, most of the batch);
 * everything for PPO and REINFORCE++.
 */
export function trajectoriesToScore(
  algorithm: string,
  trajectories: readonly Trajectory[],
  settings: Pick<AgentTraining, 'stepCredit' | 'gigpo'>,
): number[] {
  if (!GROUP_ESTIMATORS.includes(algorithm)) return trajectories.map((_, i) => i);
  const { keep } = filterInformativeGroups(
    trajectories.map((t) => t.reward),
    trajectories.map((t) => t.group),
  );
  return union(keep, gigpoSignalled(trajectories, settings));
}

/**
 * GiGPO's trajectories with a step-level signal: some step's ω·A^S is not 0. A group whose rollouts all got the
 * same outcome has A^E = 0, yet GiGPO's A = A^E + ω·A^S still ranks the actions taken from a shared anchor state
 * when they reached that outcome in different numbers of steps (discounted returns γ^(T−1−t)·R differ; with R = 0
 * they are all 0). verl-agent trains on such groups (it drops none unless asked), so they are kept; SALT only
 * averages A^E over shared transitions, so its flat groups stay all 0 and are dropped with the rest.
 */
function gigpoSignalled(trajectories: readonly Trajectory[], settings: Pick<AgentTraining, 'stepCredit' | 'gigpo'>): number[] {
  if (settings.stepCredit !== 'gigpo') return [];
  const out: number[] = [];
  for (const members of indicesByGroup(trajectories.map((t) => t.group)).values()) {
    // With A^E = 0 the GiGPO advantages are the step terms alone.
    const group = members.map((i) => ({ advantage: 0, reward: trajectories[i].reward, steps: turnSteps(trajectories[i], 'observation') }));
    const stepTerms = gigpoStepAdvantages(group, settings.gigpo);
    members.forEach((i, k) => {
      if (stepTerms[k].some((a) => a !== 0)) out.push(i);
    });
  }
  return out;
}

const union = (a: readonly number[], b: readonly number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y);

export function computeAdvantages(
  algorithm: AgentAlgorithm,
  trajectories: readonly Trajectory[],
  scores: Scores,
  settings: Pick<AgentTraining, 'stepCredit' | 'saltStates' | 'gigpo' | 'ppo' | 'kl'>,
): Advantages {
  const mask = rowMask(trajectories);
  const groups = trajectories.map((t) => t.group);
  let tokenRewards = placeTerminalRewards(
    trajectories.map((t) => t.reward),
    mask,
  );
  const scored = scores.scored && new Set(scores.scored); // absent: every row was scored
  let meanKl = 0;
  if (settings.kl.mode === 'reward' && scores.refLogProbs) {
    const klMask = scored ? mask.map((row, i) => (scored.has(i) ? row : row.map(() => 0))) : mask; // unscored rows have no log-probs
    const penalised = applyKlPenalty(tokenRewards, scores.oldLogProbs, scores.refLogProbs, klMask, settings.kl.coef, settings.kl.estimator);
    tokenRewards = penalised.rewards;
    meanKl = penalised.meanKl;
  }
  const outcome = rowSums(tokenRewards);
  const { keep: informative, droppedGroups } = filterInformativeGroups(
    trajectories.map((t) => t.reward),
    groups,
  );
  const all = trajectories.map((_, i) => i);

  if (algorithm === 'ppo') {
    if (!scores.values) throw new Error('ppo needs the critic values from scoreBatch');
    const { advantages, returns } = computeGae(tokenRewards, scores.values, mask, { gamma: settings.ppo.gamma, lambda: settings.ppo.lambda });
    const countValid = mask.flat().filter(Boolean).length;
    return { advantages: countValid > 1 ? maskedWhiten(advantages, mask) : advantages, returns, keep: all, flatGroups: droppedGroups.length, meanKl };
  }
  if (algorithm === 'reinforce_pp') {
    return { advantages: reinforcePlusPlusBaselineAdvantages(tokenRewards, mask, groups), keep: all, flatGroups: droppedGroups.length, meanKl };
  }

  let perTrajectory: number[];
  let keep = informative;
  switch (algorithm) {
    case 'grpo':
      perTrajectory = grpoAdvantages(outcome, groups);
      break;
    case 'drgrpo':
      perTrajectory = drGrpoAdvantages(outcome, groups);
      break;
    case 'rloo':
      perTrajectory = rlooAdvantages(outcome, groups);
      break;
    case 'loop': {
      const loop = loopAdvantages(outcome, groups);
      perTrajectory = loop.advantages;
      keep = loop.keep; // |A| ≥ 0.01, so never a flat group
      break;
    }
  }
  keep = union(keep, gigpoSignalled(trajectories, settings));
  const missing = scored && keep.find((i) => !scored.has(i));
  if (missing !== undefined) throw new Error(`trajectory ${missing} is trained on but was not scored`);
  return { advantages: withStepCredit(trajectories, perTrajectory, mask, settings), keep, flatGroups: droppedGroups.length, meanKl };
}

/**
 * Per-token advantages from the trajectory ones under `agent.stepCredit`: tiled (`none`), SALT's transition
 * means (`salt`), or GiGPO's A^E + ω·A^S over anchor states (`gigpo`), always within one task's group.
 */
function withStepCredit(
  trajectories: readonly Trajectory[],
  perTrajectory: readonly number[],
  mask: Matrix,
  settings: Pick<AgentTraining, 'stepCredit' | 'saltStates' | 'gigpo'>,
): Matrix {
  if (settings.stepCredit === 'none') return broadcastToTokens(perTrajectory, mask);
  // GiGPO's anchor state is the observation the action answered (verl-agent's anchor_obs), never the history.
  const states = settings.stepCredit === 'salt' ? settings.saltStates : 'observation';
  const grouping: StepGrouping = settings.stepCredit === 'salt' ? { kind: 'transition' } : { kind: 'anchor-state', ...settings.gigpo };
  const steps = trajectories.map((t, i) => ({ group: t.group, advantage: perTrajectory[i], reward: t.reward, steps: turnSteps(t, states) }));
  return stepLevelBatchAdvantages(steps, mask, grouping);
}

/**
 * Turns as steps, spans in the row's token space: (observation answered, action, observation got), the first
 * turn's state being its whole context (the task's prompt); or with `history` (context before, action, context
 * after). SALT keys a step by all three, GiGPO by the state alone.
 */
export function turnSteps(trajectory: Trajectory, states: AgentTraining['saltStates']) {
  let offset = 0;
  return trajectory.turns.map((turn, t) => {
    const [state, nextState] =
      states === 'history' ? [turn.context, turn.nextContext] : [t === 0 ? turn.context : trajectory.turns[t - 1].observation, turn.observation];
    const step = { state, action: turn.action, nextState, tokenStart: offset, tokenEnd: offset + turn.actionTokens.length };
    offset = step.tokenEnd;
    return step;
  });
}
