/** supervisor: the phone's owner: profile, account passwords, and ending the task. No login needed. */
import { param } from '../api-spec';
import { renderRecord } from '../protocol';
import { LOGIN_APPS } from '../world';
import { api, type AppDefinition } from './define';

const A = 'supervisor';

export const supervisorApp: AppDefinition = {
  name: A,
  description: 'your profile, account passwords, and complete_task to finish',
  apis: [
    api(A, 'show_profile', 'Show your name, email and phone.', [], ({ world }) => renderRecord({
      name: `${world.supervisor.firstName} ${world.supervisor.lastName}`, email: world.supervisor.email,
      phone: world.supervisor.phone,
    }), false),
    api(A, 'show_account_passwords', 'Show the password of every app account.', [],
      ({ world }) => renderRecord(Object.fromEntries(LOGIN_APPS.map((app) => [app, world.passwords[app]]))), false),
    api(A, 'complete_task', 'Finish the task; give answer when the task asks a question.',
      [param('answer', 'string', 'the answer, as text', false)], (ctx, a) => {
        ctx.complete(a.answer as string | undefined);
        return renderRecord({ ok: true, completed: true });
      }, false),
  ],
};
