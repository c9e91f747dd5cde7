import { buildSegments, rowMask, segmentBatch, toSegments, writeRows } from '../../../trainer/segments';
import type { Trajectory, TurnRecord } from '../../../trainer/trajectory';

const turn = (prompt: number[], action: number[]): TurnRecord => ({
  context: '',
  promptTokens: prompt,
  actionTokens: action,
  sampleLogProbs: action.map(() => 0),
  action: '',
  observation: '',
  error: false,
  nextContext: '',
});

const trajectory = (turns: TurnRecord[], group = 0, sample = 0): Trajectory => ({
  taskId: 't',
  group,
  sample,
  seed: 0,
  policyVersion: 0,
  turns,
  reward: 0,
  success: false,
  finishReason: 'completed',
  envErrors: 0,
  metrics: {},
});

describe('row and segment views of a batch', () => {
  // Two trajectories: [prompt 1 2 | action 10 11] then [prompt 1 3 4 | action 12], and one turn of 3 actions.
  const batch = [trajectory([turn([1, 2], [10, 11]), turn([1, 3, 4], [12])]), trajectory([turn([1, 5], [20, 21, 22])], 1)];

  it('rows hold only action tokens, turn after turn', () => {
    expect(rowMask(batch)).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
    const segments = buildSegments(batch);
    expect(segments.map((s) => [s.trajectory, s.turn, s.rowOffset, s.actionStart, s.actionLength])).toEqual([
      [0, 0, 0, 1, 2],
      [0, 1, 2, 2, 1],
      [1, 0, 0, 1, 3],
    ]);
  });

  it('a segment batch reads predictions exactly at the action positions (prompt and observation tokens enter no loss)', () => {
    const segments = buildSegments(batch);
    const { inputs, positions, targets, mask, tokens } = segmentBatch(segments);
    expect(tokens).toBe(6);
    expect(targets).toEqual([
      [10, 11, 0],
      [12, 0, 0],
      [20, 21, 22],
    ]);
    expect(mask).toEqual([
      [1, 1, 0],
      [1, 0, 0],
      [1, 1, 1],
    ]);
    // The input at each position is the token before the target it predicts.
    segments.forEach((s, i) => {
      const sequence = [...batch[s.trajectory].turns[s.turn].promptTokens, ...batch[s.trajectory].turns[s.turn].actionTokens];
      for (let k = 0; k < s.actionLength; k++) {
        expect(inputs[i][positions[i][k]]).toBe(sequence[sequence.length - s.actionLength + k - 1]);
        expect(targets[i][k]).toBe(sequence[sequence.length - s.actionLength + k]);
      }
    });
  });

  it('moves per-token values between the views without loss', () => {
    const segments = buildSegments(batch);
    const rows = [
      [0.1, 0.2, 0.3],
      [0.4, 0.5, 0.6],
    ];
    const perSegment = toSegments(rows, segments);
    const back = rows.map((r) => r.map(() => 0));
    writeRows(back, segments, perSegment);
    expect(back).toEqual(rows);
    expect(perSegment[1]).toEqual([0.3, 0, 0]);
  });
});
