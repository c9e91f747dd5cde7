/** Small helpers shared by the app definitions: declaring an API and the per-app login. */
import { ApiError, param, type ApiContext, type ApiSpec, type ParamSpec } from '../api-spec';
import { renderRecord } from '../protocol';
import type { Value } from '../world';

export interface AppDefinition {
  name: string;
  description: string;
  apis: ApiSpec[];
}

export function api(
  app: string,
  name: string,
  doc: string,
  params: ParamSpec[],
  handler: (ctx: ApiContext, args: Record<string, Value>) => string,
  auth = true,
): ApiSpec {
  return { app, name, doc, params, auth, handler };
}

/** `<app>.login(username, password)`: the supervisor's email and the app's password give an access token. */
export function loginApi(app: string): ApiSpec {
  return api(app, 'login', `Log in with the supervisor's email and the ${app} password; returns an access token.`,
    [param('username', 'string', 'supervisor email'), param('password', 'string', 'account password')],
    (ctx, args) => {
      if (args.username !== ctx.world.supervisor.email) throw new ApiError(401, `unknown username for ${app}`);
      if (args.password !== ctx.world.passwords[app]) throw new ApiError(401, `wrong password for ${app}`);
      let token = ctx.sessions.get(app);
      if (!token) {
        token = ctx.newToken();
        ctx.sessions.set(app, token);
      }
      return renderRecord({ token });
    }, false);
}

/** Case-insensitive substring match, the search semantics of every app. */
export function matches(text: Value, query: Value | undefined): boolean {
  return query === undefined || String(text).toLowerCase().includes(String(query).toLowerCase());
}

export function done(fields: Record<string, Value> = {}): string {
  return renderRecord({ ok: true, ...fields });
}
