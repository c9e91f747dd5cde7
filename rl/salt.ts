/**
 * SALT: step-level advantages from a trajectory graph over the group of rollouts of ONE task
 * (Li et al., arXiv 2510.20022; mechanism as described by GRAFT App. A.3; see research/seed-algorithms.md §1).
 *
 * Start from a trajectory-level advantage A_i per rollout (GRPO, RLOO, LOOP...). A step is one turn:
 * (state, action, nextState). Identical transitions across the rollouts become one node of the graph, and
 *
 *   A_{i,t} = mean of A_j over every occurrence (j, u) of the node of step (i, t)
 *
 * so a step shared by winning and losing rollouts (reading docs, logging in) drifts to ~0 ("neutral"), while
 * steps found only on winning or only on losing branches keep their sign ("decisive"). A step seen once keeps
 * A_i. A trajectory that repeats a transition counts once per occurrence.
 *
 * Canonical step key: the exact triple (state, action, nextState), encoded as JSON.stringify([s, a, s']) so no
 * separator inside the texts can make two different triples collide. Canonicalisation (which context text the
 * states contain, whitespace, dropping free-text reasoning) is the caller's job: the trainer renders `state` as
 * the observation the action answered and `nextState` as the one it got (agent.saltStates 'observation'), or as
 * the whole context before and after ('history'). Equal strings mean the same node; nothing fuzzier.
 *
 * Why the rendering matters: steps with equal whole contexts have equal ∇log π, so averaging their advantages
 * leaves Σ_j A_j ∇log π, GRPO's first-epoch gradient, unchanged. Only a key coarser than the model's input
 * (the observation, as SALT's graph over environment states) makes SALT a different estimator.
 *
 * GiGPO (Feng et al. 2025, arXiv 2505.10978) is the `anchor-state` option: steps are grouped by their state
 * alone, and a step-level relative advantage on discounted step returns is added to the trajectory advantage.
 * The trainer picks one with `agent.stepCredit` ('salt' | 'gigpo'; trainer/advantages.ts) and renders a GiGPO
 * anchor state as the observation the action answered (the task's prompt at the first turn), as verl-agent's
 * `anchor_obs`: the raw environment observation, never the history.
 */
import { Matrix } from './masks';
import { GroupId, indicesByGroup } from './group-advantages';

export interface SaltStep {
  /** Canonical rendering of the context before the action. */
  state: string;
  /** Canonical rendering of the action (the model's turn). */
  action: string;
  /** Canonical rendering of the context after the action and its observation. */
  nextState: string;
  /** First token of this step's action in the trajectory's row (inclusive). */
  tokenStart: number;
  /** One past the last token of this step's action (exclusive). */
  tokenEnd: number;
}

export interface SaltTrajectory {
  steps: SaltStep[];
  /** Trajectory-level advantage A_i from a group estimator. */
  advantage: number;
  /** Outcome reward R_i; needed only by the GiGPO option (its step returns are γ^(T−1−t)·R_i). */
  reward?: number;
}

export interface GigpoOptions {
  /** Discount for the step returns R_t = γ^(T−1−t)·R (sparse terminal reward). verl-agent default 0.95. */
  gamma?: number;
  /** Weight ω of the step-level term: A = A^E + ω·A^S. Default 1. */
  stepWeight?: number;
  /** Divide A^S by the anchor group's unbiased std + ε ("mean_std_norm"). Default false ("mean_norm"). */
  normalizeByStd?: boolean;
  epsilon?: number;
}

export type StepGrouping = { kind: 'transition' } | ({ kind: 'anchor-state' } & GigpoOptions);

/** The canonical key of a SALT node: the exact (state, action, nextState) triple. */
export function transitionKey(step: Pick<SaltStep, 'state' | 'action' | 'nextState'>): string {
  return JSON.stringify([step.state, step.action, step.nextState]);
}

type Occurrence = { trajectory: number; step: number };

function groupSteps(group: readonly SaltTrajectory[], keyOf: (s: SaltStep) => string): Map<string, Occurrence[]> {
  const nodes = new Map<string, Occurrence[]>();
  group.forEach((traj, trajectory) =>
    traj.steps.forEach((s, step) => {
      const key = keyOf(s);
      const occurrences = nodes.get(key);
      if (occurrences) occurrences.push({ trajectory, step });
      else nodes.set(key, [{ trajectory, step }]);
    }),
  );
  return nodes;
}

/** SALT step advantages: out[i][t] = mean of A_j over the occurrences of step (i, t)'s transition node. */
export function saltStepAdvantages(group: readonly SaltTrajectory[]): number[][] {
  const out = group.map((traj) => traj.steps.map(() => traj.advantage));
  for (const occurrences of groupSteps(group, transitionKey).values()) {
    if (occurrences.length < 2) continue; // seen once: keeps its own A_i, bit for bit
    const merged = occurrences.reduce((a, o) => a + group[o.trajectory].advantage, 0) / occurrences.length;
    for (const o of occurrences) out[o.trajectory][o.step] = merged;
  }
  return out;
}

/**
 * GiGPO step advantages: A_{i,t} = A^E_i + ω·A^S_{i,t}, where A^E_i is the given trajectory advantage and
 *   R_{i,t} = γ^(T_i−1−t)·R_i                      (discounted return from step t; reward at the last step)
 *   A^S_{i,t} = R_{i,t} − mean(R over steps whose state equals s_{i,t})   (÷ (std + ε) if normalizeByStd)
 * An anchor state seen once, or whose steps all have the same return, gives A^S = 0.
 */
export function gigpoStepAdvantages(group: readonly SaltTrajectory[], options: GigpoOptions = {}): number[][] {
  const gamma = options.gamma ?? 0.95;
  const stepWeight = options.stepWeight ?? 1;
  const epsilon = options.epsilon ?? 1e-6;
  const stepReturns = group.map((traj, i) => {
    if (traj.reward === undefined) throw new Error(`GiGPO needs the outcome reward of trajectory ${i}`);
    const T = traj.steps.length;
    return traj.steps.map((_, t) => gamma ** (T - 1 - t) * (traj.reward as number));
  });
  const out = group.map((traj) => traj.steps.map(() => traj.advantage));
  for (const occurrences of groupSteps(group, (s) => s.state).values()) {
    if (occurrences.length < 2) continue; // singleton anchor group: A^S = 0
    const R = occurrences.map((o) => stepReturns[o.trajectory][o.step]);
    // Equal returns: A^S is exactly 0 (their float mean can be off by an ulp, and the trainer keeps a flat
    // group's trajectory exactly when its A^S is not 0).
    if (R.every((r) => r === R[0])) continue;
    const mu = R.reduce((a, v) => a + v, 0) / R.length;
    const std = Math.sqrt(R.reduce((a, v) => a + (v - mu) ** 2, 0) / (R.length - 1));
    occurrences.forEach((o, k) => {
      const relative = options.normalizeByStd ? (R[k] - mu) / (std + epsilon) : R[k] - mu;
      out[o.trajectory][o.step] += stepWeight * relative;
    });
  }
  return out;
}

/**
 * Per-token advantages for the group's rows: each step's advantage over its token span [tokenStart, tokenEnd),
 * times the loss mask when one is given (so tool tokens inside a span stay 0), 0 elsewhere.
 * `rowLengths[i]` is the padded length of trajectory i's row.
 */
export function stepsToTokens(
  group: readonly SaltTrajectory[],
  stepAdvantages: readonly number[][],
  rowLengths: readonly number[],
  mask?: Matrix,
): Matrix {
  return group.map((traj, i) => {
    const row = new Array<number>(rowLengths[i]).fill(0);
    traj.steps.forEach((s, t) => {
      if (s.tokenStart < 0 || s.tokenEnd > rowLengths[i] || s.tokenStart > s.tokenEnd) {
        throw new Error(`trajectory ${i} step ${t}: span [${s.tokenStart}, ${s.tokenEnd}) outside row of ${rowLengths[i]}`);
      }
      for (let k = s.tokenStart; k < s.tokenEnd; k++) row[k] = mask && !mask[i][k] ? 0 : stepAdvantages[i][t];
    });
    return row;
  });
}

/** SALT (default) or GiGPO per-token advantages for one task's group of rollouts. */
export function stepLevelTokenAdvantages(
  group: readonly SaltTrajectory[],
  rowLengths: readonly number[],
  mask?: Matrix,
  grouping: StepGrouping = { kind: 'transition' },
): Matrix {
  const perStep = grouping.kind === 'transition' ? saltStepAdvantages(group) : gigpoStepAdvantages(group, grouping);
  return stepsToTokens(group, perStep, rowLengths, mask);
}

/**
 * The whole batch at once: trajectories are split by `group` (the task they were sampled for) and SALT or
 * GiGPO runs inside each group only, never across tasks. Row i of the result matches row i of `mask`.
 */
export function stepLevelBatchAdvantages(
  trajectories: readonly (SaltTrajectory & { group: GroupId })[],
  mask: Matrix,
  grouping: StepGrouping = { kind: 'transition' },
): Matrix {
  if (trajectories.length !== mask.length) throw new Error(`${trajectories.length} trajectories for ${mask.length} rows`);
  const out: Matrix = new Array(mask.length);
  for (const members of indicesByGroup(trajectories.map((t) => t.group)).values()) {
    const rows = stepLevelTokenAdvantages(
      members.map((i) => trajectories[i]),
      members.map((i) => mask[i].length),
      members.map((i) => mask[i]),
      grouping,
    );
    members.forEach((i, k) => (out[i] = rows[k]));
  }
  return out;
}
