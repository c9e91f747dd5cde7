/**
 * Two views of one batch of trajectories.
 *
 * - Rows (what rl/ computes advantages on): one row per trajectory holding only its action tokens, turn after
 *   turn, padded to the longest row. The sparse reward sits on the last action token.
 * - Segments (what the model runs on): one sequence per turn, `prompt ++ action`, because each turn's context
 *   is re-rendered by the environment's context policy (task + last K turns) and is not a prefix of the next.
 *
 * Observation tokens never appear in a row and are mask 0 in a segment, so they enter no loss. `toSegments`
 * and `toRows` move per-token numbers between the two views.
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
  inputs: number[][];
  targets: number[][];
  /** 1 where the target is an action token. */
  mask: number[][];
  tokens: number;
}

/** Right-padded model batch for some segments. */
export function segmentBatch(segments: readonly Segment[], pad = 0): SegmentBatch {
  const T = Math.max(1, ...segments.map((s) => s.inputs.length));
  const fill = (values: number[]) => [...values, ...new Array(T - values.length).fill(pad)];
  const mask = segments.map((s) => Array.from({ length: T }, (_, t) => (t >= s.actionStart && t < s.actionStart + s.actionLength ? 1 : 0)));
  return {
    inputs: segments.map((s) => fill(s.inputs)),
    targets: segments.map((s) => fill(s.targets)),
    mask,
    tokens: segments.reduce((n, s) => n + s.actionLength, 0),
  };
}

/** Row-space values -> the segment layout of `segmentBatch` (0 off the action span). */
export function toSegments(rows: Matrix, segments: readonly Segment[]): number[][] {
  const T = Math.max(1, ...segments.map((s) => s.inputs.length));
  return segments.map((s) => {
    const out = new Array(T).fill(0);
    for (let k = 0; k < s.actionLength; k++) out[s.actionStart + k] = rows[s.trajectory][s.rowOffset + k];
    return out;
  });
}

/** Segment-space values (as produced by the model on `segmentBatch(segments)`) written into rows. */
export function writeRows(rows: Matrix, segments: readonly Segment[], values: ArrayLike<number>[]): void {
  segments.forEach((s, i) => {
    for (let k = 0; k < s.actionLength; k++) rows[s.trajectory][s.rowOffset + k] = values[i][s.actionStart + k];
  });
}
