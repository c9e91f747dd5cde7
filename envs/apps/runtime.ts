/**
 * Executes one action text against a world: parse, find the API, check the token and arguments, run the
 * handler. Every failure comes back as `error: <status> <message>`; this function never throws.
 */
import { ApiError, validateArgs, type ApiContext } from './api-spec';
import { APPS, findApi } from './apis';
import { ParseError, parseCall } from './protocol';

export interface CallResult {
  observation: string;
  error: boolean;
}

export function execute(action: string, ctx: ApiContext): CallResult {
  try {
    const call = parseCall(action);
    if (!APPS.some((a) => a.name === call.app)) {
      throw new ApiError(404, `unknown app ${call.app}; see api_docs.show_app_descriptions()`);
    }
    const spec = findApi(call.app, call.api);
    if (!spec) throw new ApiError(404, `unknown API ${call.app}.${call.api}; see api_docs.show_api_descriptions(app_name="${call.app}")`);
    validateArgs(spec, call.args);
    if (spec.auth && call.args.token !== ctx.sessions.get(spec.app)) {
      throw new ApiError(401, `invalid token for ${spec.app}; log in with ${spec.app}.login`);
    }
    return { observation: spec.handler(ctx, call.args), error: false };
  } catch (e) {
    if (e instanceof ParseError) return { observation: `error: 400 ${e.message}`, error: true };
    if (e instanceof ApiError) return { observation: `error: ${e.status} ${e.message}`, error: true };
    // A handler bug must not crash a rollout either; say so plainly.
    return { observation: `error: 500 internal error: ${(e as Error)?.message ?? String(e)}`, error: true };
  }
}
