/** Runs a template's ground-truth solution on a copy of a world: the verifier's expected final state. */
import type { ApiContext } from './api-spec';
import { formatCall } from './protocol';
import { execute } from './runtime';
import type { SolutionStep } from './templates';
import { LOGIN_APPS, cloneWorld, type World } from './world';

const TRUTH_TOKEN = 'truth';

export function solvedWorld(initial: World, steps: SolutionStep[]): World {
  const world = cloneWorld(initial);
  const ctx: ApiContext = {
    world,
    sessions: new Map(LOGIN_APPS.map((app) => [app, TRUTH_TOKEN])),
    newToken: () => TRUTH_TOKEN,
    complete: () => undefined,
  };
  for (const step of steps) {
    const args = (LOGIN_APPS as readonly string[]).includes(step.app) ? { token: TRUTH_TOKEN, ...step.args } : step.args;
    const result = execute(formatCall(step.app, step.api, args), ctx);
    if (result.error) throw new Error(`ground truth failed at ${step.app}.${step.api}: ${result.observation}`);
  }
  return world;
}
