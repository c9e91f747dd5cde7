/** todo: tasks in projects. */
import { ApiError, findRow, pageParam, param, renderList } from '../api-spec';
import { renderRecord } from '../protocol';
import { PROJECTS, insertRow, rows } from '../world';
import { api, done, loginApi, type AppDefinition } from './define';

const A = 'todo';
const projectParam = (required: boolean) => param('project', 'string', PROJECTS.join('|'), required, PROJECTS);

export const todoApp: AppDefinition = {
  name: A,
  description: 'to-do tasks in projects',
  apis: [
    loginApi(A),
    api(A, 'list_projects', 'List project names.', [], () => PROJECTS.map((p) => renderRecord({ project: p })).join('\n')),
    api(A, 'list_tasks', 'List tasks, optionally in one project and/or by done state.',
      [projectParam(false), param('done', 'bool', 'true or false', false), pageParam],
      ({ world }, a) => renderList(rows(world, 'todos')
        .filter((t) => (a.project === undefined || t.project === a.project) && (a.done === undefined || t.done === a.done))
        .map((t) => ({ ...t })), a.page as number | undefined)),
    api(A, 'show_task', 'Show one task.', [param('task_id', 'int', 'task id')],
      ({ world }, a) => renderRecord(findRow(world, 'todos', a.task_id, 'task'))),
    api(A, 'add_task', 'Add a task to a project.', [param('title', 'string', 'title'), projectParam(true)],
      ({ world }, a) => done({ task_id: insertRow(world, 'todos', { title: a.title, project: a.project, done: false }).id })),
    api(A, 'mark_done', 'Mark a task done.', [param('task_id', 'int', 'task id')], ({ world }, a) => {
      const t = findRow(world, 'todos', a.task_id, 'task');
      if (t.done) throw new ApiError(409, `task ${t.id} is already done`);
      t.done = true;
      return done();
    }),
    api(A, 'move_task', 'Move a task to another project.', [param('task_id', 'int', 'task id'), projectParam(true)],
      ({ world }, a) => {
        findRow(world, 'todos', a.task_id, 'task').project = a.project;
        return done();
      }),
    api(A, 'delete_task', 'Delete a task.', [param('task_id', 'int', 'task id')], ({ world }, a) => {
      findRow(world, 'todos', a.task_id, 'task');
      delete world.tables.todos[a.task_id as number];
      return done();
    }),
  ],
};
