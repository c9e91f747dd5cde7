/**
 * Two views of one batch of trajectories.
 *
 * - Rows (what rl/ computes advantages on): one row per trajectory holding only its action tokens, turn after
 *   turn, padded to the longest row. The sparse reward sits on the last action token.
 * - Segments (what the model runs on): one sequence per turn, `prompt ++ action`, because each turn's context
 *   is re-rendered by the environment's context policy (task + last K turns) and is not a prefix of the next.
 *
 * Observation tokens never appear in a row and are mask 0 in a segment, so they enter no loss. `toSegments`
 * and `writeRows` move per-token numbers between the two views. For the loss's seq-mean modes a trajectory's
 * segments together are one sequence (`Segment.trajectory` is its id; trainer/update.ts).
 */
import type { Matrix } from '../rl';
import type { Trajectory } from './trajectory';

export interface Segment {
  trajectory: number;
  turn: number;
  /** Model input ids (prompt ++ action without its last token). */
  inputs: number[];
  /** Next-token targets, aligned with `inputs`. */
  targets: number[];
  /** Position in `inputs` whose target is the first action token. */
  actionStart: number;
  actionLength: number;
  /** Where this turn's action tokens start in the trajectory's row. */
  rowOffset: number;
}

export function buildSegments(trajectories: readonly Trajectory[]): Segment[] {
  const segments: Segment[] = [];
  trajectories.forEach((trajectory, t) => {
    let rowOffset = 0;
    trajectory.turns.forEach((turn, k) => {
      if (turn.actionTokens.length === 0) return;
      const sequence = [...turn.promptTokens, ...turn.actionTokens];
      segments.push({
        trajectory: t,
        turn: k,
        inputs: sequence.slice(0, -1),
        targets: sequence.slice(1),
        actionStart: turn.promptTokens.length - 1,
        actionLength: turn.actionTokens.length,
        rowOffset,
      });
      rowOffset += turn.actionTokens.length;
    });
  });
  return segments;
}

/** Per-row action-token counts and the rows' 0/1 mask (1 on real tokens, 0 on padding). */
export function rowMask(trajectories: readonly Trajectory[]): Matrix {
  const lengths = trajectories.map((t) => t.turns.reduce((n, turn) => n + turn.actionTokens.length, 0));
  const width = Math.max(1, ...lengths);
  return lengths.map((n) => Array.from({ length: width }, (_, i) => (i < n ? 1 : 0)));
}

export interface SegmentBatch {
  /** Model input ids [B,T], right-padded. */
  inputs: number[][];
  /** Where each action token's prediction is read: indices into T, [B,A] (A = longest action; pad 0). */
  positions: number[][];
  /** The sampled action tokens, [B,A] (pad 0). */
  targets: number[][];
  /** 1 on real action tokens, 0 on padding, [B,A]. */
  mask: number[][];
  tokens: number;
}

/**
 * The model batch for some segments. Per-token numbers use the compact [B,A] layout: only the action
 * positions, because only they enter a loss (and the LM head then runs on A positions instead of T).
 */
export function segmentBatch(segments: readonly Segment[], pad = 0): SegmentBatch {
  const T = Math.max(1, ...segments.map((s) => s.inputs.length));
  const A = Math.max(1, ...segments.map((s) => s.actionLength));
  const fill = (values: number[], width: number) => [...values, ...new Array(width - values.length).fill(pad)];
  return {
    inputs: segments.map((s) => fill(s.inputs, T)),
    positions: segments.map((s) => fill(Array.from({ length: s.actionLength }, (_, k) => s.actionStart + k), A)),
    targets: segments.map((s) => fill(s.targets.slice(s.actionStart, s.actionStart + s.actionLength), A)),
    mask: segments.map((s) => Array.from({ length: A }, (_, k) => (k < s.actionLength ? 1 : 0))),
    tokens: segments.reduce((n, s) => n + s.actionLength, 0),
  };
}

/** Row-space values -> the [B,A] layout of `segmentBatch` (0 on padding). */
export function toSegments(rows: Matrix, segments: readonly Segment[]): number[][] {
  const A = Math.max(1, ...segments.map((s) => s.actionLength));
  return segments.map((s) => Array.from({ length: A }, (_, k) => (k < s.actionLength ? rows[s.trajectory][s.rowOffset + k] : 0)));
}

/** [B,A] values (as produced on `segmentBatch(segments)`) written into rows. */
export function writeRows(rows: Matrix, segments: readonly Segment[], values: ArrayLike<number>[]): void {
  segments.forEach((s, i) => {
    for (let k = 0; k < s.actionLength; k++) rows[s.trajectory][s.rowOffset + k] = values[i][k];
  });
}

/** Segments sorted by input length (stable), so a batch of neighbours pads little; results do not depend on order. */
export function byLength(segments: readonly Segment[]): Segment[] {
  return [...segments].sort((a, b) => a.inputs.length - b.inputs.length);
}
