import { AppsEpisode, createAppsEnvironment } from '../../../envs/apps';
import type { Agent } from '../../../envs/types';

const env = createAppsEnvironment();

/** Run the flawless expert up to (not including) complete_task, then let the test act. */
function solvedButOpen(taskId: string): AppsEpisode {
  const ep = env.createEpisode(taskId, 0) as AppsEpisode;
  const expert: Agent = env.expert(taskId, { noise: 0, seed: 0 });
  for (;;) {
    const action = expert.act(ep);
    if (action.startsWith('supervisor.complete_task')) return ep;
    ep.step(action);
  }
}

function token(ep: AppsEpisode, app: string): string {
  if (!ep.sessions.has(app)) {
    ep.step(`${app}.login(username="${ep.world.supervisor.email}", password="${ep.world.passwords[app]}")`);
  }
  return ep.sessions.get(app)!;
}

const deleteDoneTodos = env.tasks('train').find((t) => t.template === 'delete_done_todos')!.id;

describe('apps verifier', () => {
  it('passes the expert solution', () => {
    const ep = solvedButOpen(deleteDoneTodos);
    ep.step('supervisor.complete_task()');
    expect(ep.score()).toMatchObject({ success: true, reward: 1 });
  });

  it('fails when the task is not completed', () => {
    const ep = solvedButOpen(deleteDoneTodos);
    expect(ep.score()).toMatchObject({ success: false, metrics: { completed: 0, requested_changes: 1 } });
  });

  it('fails collateral damage by an extra modification', () => {
    const ep = solvedButOpen(deleteDoneTodos);
    const open = Object.values(ep.world.tables.todos).find((t) => !t.done)!;
    expect(ep.step(`todo.mark_done(token="${token(ep, 'todo')}", task_id=${open.id})`).error).toBe(false);
    ep.step('supervisor.complete_task()');
    const c = ep.checks();
    expect(c.collateral).toEqual({ modified: 1, deleted: 0, added: 0 });
    expect(ep.score()).toMatchObject({ success: false, reward: 0, metrics: { requested_changes: 1, no_collateral: 0 } });
  });

  it('fails collateral damage by an extra deletion', () => {
    const ep = solvedButOpen(deleteDoneTodos);
    const note = Object.values(ep.world.tables.notes)[0];
    expect(ep.step(`notes.delete_note(token="${token(ep, 'notes')}", note_id=${note.id})`).error).toBe(false);
    ep.step('supervisor.complete_task()');
    expect(ep.checks().collateral).toEqual({ modified: 0, deleted: 1, added: 0 });
    expect(ep.score().success).toBe(false);
  });

  it('fails collateral damage by an extra addition, even a duplicate of a requested one', () => {
    const addTodo = env.tasks('train').find((t) => t.template === 'add_todo')!.id;
    const ep = solvedButOpen(addTodo);
    const last = ep.turns[ep.turns.length - 1].action;
    expect(ep.step(last).error).toBe(false);
    ep.step('supervisor.complete_task()');
    expect(ep.checks().collateral).toEqual({ modified: 0, deleted: 0, added: 1 });
    expect(ep.score().success).toBe(false);
  });

  it('fails when a requested change is missing', () => {
    const ep = env.createEpisode(deleteDoneTodos, 0);
    ep.step('supervisor.complete_task()');
    expect(ep.score()).toMatchObject({ success: false, metrics: { requested_changes: 0, no_collateral: 1 } });
  });

  it('checks the answer of question tasks, normalizing case, "$" and a final period', () => {
    const question = env.tasks('train').find((t) => t.template === 'wallet_balance')!.id;
    const right = solvedButOpen(question);
    right.step(`supervisor.complete_task(answer="$${right.world.tables.wallet[1].balance}.")`);
    expect(right.score().success).toBe(true);
    const wrong = solvedButOpen(question);
    wrong.step('supervisor.complete_task(answer="12345")');
    expect(wrong.score()).toMatchObject({ success: false, metrics: { answer_correct: 0 } });
  });

  it('accepts the right changes made in another order', () => {
    const texts = env.tasks('train').find((t) => t.template === 'text_relation')!.id;
    const ep = solvedButOpen(texts);
    const sends = ep.turns.filter((t) => t.action.startsWith('phone.send_message'));
    expect(sends.length).toBeGreaterThan(1);
    const fresh = env.createEpisode(texts, 0) as AppsEpisode;
    const tok = token(fresh, 'phone');
    for (const s of [...sends].reverse()) fresh.step(s.action.replace(/token="[^"]*"/, `token="${tok}"`));
    fresh.step('supervisor.complete_task()');
    expect(fresh.score().success).toBe(true);
  });
});
