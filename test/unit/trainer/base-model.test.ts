import { heldOutTasks } from '../../../trainer/base-model';

describe('the SFT held-out split', () => {
  test('holds out whole tasks (every 10th distinct id, in order of first appearance), whatever their turn count', () => {
    // Two worlds repeat the same 25 task ids; each task has 1-3 turns.
    const ids = [0, 1].flatMap(() => Array.from({ length: 25 }, (_, t) => Array(1 + (t % 3)).fill(`task-${t}`)).flat());
    const held = heldOutTasks(ids);
    expect([...held]).toEqual(['task-0', 'task-10', 'task-20']);
    const heldTurns = ids.filter((id) => held.has(id));
    expect(heldTurns).toHaveLength(2 * (1 + 2 + 3)); // task-0: 1 turn, task-10: 2, task-20: 3; in both worlds
    expect(ids.filter((id) => !held.has(id)).some((id) => held.has(id))).toBe(false);
  });
});
