/**
 * The scripted expert. Healthy run: read the doc of the API(s) the task needs, read the passwords, log in to
 * each app just before its first use (re-reading the passwords when they have left the context window), replay the ground-truth solution, complete the task.
 *
 * Noise in [0, 1] makes it a plausible imperfect demonstrator: each doc look-up is skipped with probability
 * `noise`; before a call it first makes a recoverable mistake (bad token, missing argument, misspelled API,
 * mistyped value: all rejected by the API without changing state) with probability 0.35 * noise; and with
 * probability 0.5 * noise it gives up part-way and completes the task early (which fails it).
 *
 * With probability `habit`, on a task of more than one step (an answer counts as a step) it stops one step short:
 * it finds the answer to a question but completes the task without it ("looked it up, forgot to say it"), or
 * looks up what to change and makes all but the last change ("done after the one before last"). One systematic
 * flaw, at one decision (when to complete), for RL to train away; a task that is a single change is left as it is.
 *
 * With `skills: true` (SAGE demonstrations), on a template with a skill recipe (skills-expert.ts) it writes the
 * skill when the episode's library lacks it (after the doc look-ups), logs in, and solves the task with one skill
 * call; a later task of the chain finds the skill in its library and only calls it. Noise then misspells the
 * skill name once, and the habit stops before the call.
 */
import { Rng, hashSeed } from '../../common/random';
import { expertSettings, type Agent, type Episode, type ExpertOptions } from '../types';
import { AppsEpisode, CONTEXT_TURNS } from './episode';
import { formatCall } from './protocol';
import { expertSkill, type ExpertSkill } from './skills-expert';
import type { SolutionStep, TaskSpec } from './templates';
import { LOGIN_APPS, type Value } from './world';

type Move = (episode: AppsEpisode) => string;
/** A login needs the passwords in view; the expert (re)reads them first when they left the context window. */
type Login = { login: string };
type PlanItem = Move | Login;

const needsLogin = (app: string) => (LOGIN_APPS as readonly string[]).includes(app);

function call(step: SolutionStep): Move {
  return (ep) => formatCall(step.app, step.api, needsLogin(step.app) ? { token: ep.sessions.get(step.app) ?? '', ...step.args } : step.args);
}

/** A wrong first try that the API refuses without touching state. */
function mistake(step: SolutionStep, rng: Rng): Move {
  const kinds = ['token', 'api', ...(Object.keys(step.args).length > 0 ? ['missing', 'type'] : [])];
  const kind = needsLogin(step.app) ? rng.pick(kinds) : 'api';
  return (ep) => {
    const token = ep.sessions.get(step.app) ?? '';
    const args: Record<string, Value> = needsLogin(step.app) ? { token, ...step.args } : { ...step.args };
    if (kind === 'token') args.token = token.split('').reverse().join('') === token ? `${token}x` : token.split('').reverse().join('');
    if (kind === 'api') return formatCall(step.app, `${step.api}s`, args);
    const names = Object.keys(step.args);
    const victim = names[rng.int(0, names.length - 1)];
    if (kind === 'missing') delete args[victim];
    if (kind === 'type') args[victim] = typeof args[victim] === 'string' ? 0 : String(args[victim]);
    return formatCall(step.app, step.api, args);
  };
}

export interface AppsExpertOptions extends ExpertOptions {
  /** Write and call a skill where the template has a recipe (default false). */
  skills?: boolean;
}

function docLookups(spec: TaskSpec, noise: number, rng: Rng): PlanItem[] {
  const moves: PlanItem[] = [];
  const acts = spec.steps.filter((s) => s.kind === 'act');
  const documented = new Set<string>();
  for (const s of (acts.length > 0 ? acts : spec.steps)) {
    const key = `${s.app}.${s.api}`;
    if (documented.has(key) || documented.size >= 2) continue;
    documented.add(key);
    if (!rng.bool(noise)) moves.push(() => formatCall('api_docs', 'show_api_doc', { app_name: s.app, api_name: s.api }));
  }
  return moves;
}

function plan(spec: TaskSpec, noise: number, habit: number, rng: Rng): PlanItem[] {
  const moves = docLookups(spec, noise, rng);
  const loggedIn = new Set<string>();
  let lastStepStart = 0;
  for (const step of spec.steps) {
    if (needsLogin(step.app) && !loggedIn.has(step.app)) {
      loggedIn.add(step.app);
      moves.push({ login: step.app });
    }
    lastStepStart = moves.length;
    if (rng.bool(0.35 * noise)) moves.push(mistake(step, rng));
    moves.push(call(step));
  }
  return finishPlan(moves, lastStepStart, spec, habit, noise, rng);
}

/** Skill mode: write the skill unless the library has it, log in to every app it touches, call it. */
function skillPlan(spec: TaskSpec, skill: ExpertSkill, known: boolean, noise: number, habit: number, rng: Rng): PlanItem[] {
  const moves = known ? [] : [...docLookups(spec, noise, rng), () => skill.source];
  for (const app of new Set(spec.steps.map((s) => s.app))) if (needsLogin(app)) moves.push({ login: app });
  const lastStepStart = moves.length;
  if (rng.bool(0.35 * noise)) moves.push(() => formatCall('skills', `${skill.name}s`, skill.args));
  moves.push(() => formatCall('skills', skill.name, skill.args));
  return finishPlan(moves, lastStepStart, spec, habit, noise, rng);
}

/** Completion, or the noise's give-up, or the habit's stop one step short. */
function finishPlan(moves: PlanItem[], lastStepStart: number, spec: TaskSpec, habit: number, noise: number, rng: Rng): PlanItem[] {
  const finish = () => formatCall('supervisor', 'complete_task', spec.answer === undefined ? {} : { answer: spec.answer });
  const finishWithoutAnswer = () => formatCall('supervisor', 'complete_task');
  if (rng.bool(0.5 * noise)) {
    const stop = rng.int(1, moves.length);
    return [...moves.slice(0, stop), finishWithoutAnswer];
  }
  // One step short: a question's moves without the answer, or a task of several steps without its last change.
  const severalSteps = spec.steps.length >= 2 && spec.steps.at(-1)?.kind === 'act';
  const oneShort = spec.answer !== undefined ? moves : severalSteps ? moves.slice(0, lastStepStart) : undefined;
  if (habit > 0 && oneShort && rng.bool(habit)) return [...oneShort, finishWithoutAnswer];
  return [...moves, finish];
}

function passwordsInView(ep: AppsEpisode): boolean {
  return ep.turns.slice(-CONTEXT_TURNS).some((t) => !t.error && t.action.startsWith('supervisor.show_account_passwords('));
}

function loginMove(ep: AppsEpisode, app: string): string {
  return formatCall(app, 'login', { username: ep.world.supervisor.email, password: ep.world.passwords[app] });
}

export class AppsExpert implements Agent {
  private moves: PlanItem[] | null = null;
  private next = 0;

  private readonly settings: { noise: number; habit: number };

  constructor(private readonly spec: TaskSpec, private readonly opts: AppsExpertOptions, private readonly taskId: string) {
    this.settings = expertSettings(opts);
  }

  act(episode: Episode): string {
    if (!(episode instanceof AppsEpisode)) throw new Error('the apps expert only acts in apps episodes');
    this.moves ??= this.plan(episode);
    const move = this.moves[this.next];
    if (!move) return formatCall('supervisor', 'complete_task');
    if (typeof move !== 'function') {
      if (!passwordsInView(episode)) return formatCall('supervisor', 'show_account_passwords');
      this.next++;
      return loginMove(episode, move.login);
    }
    this.next++;
    return move(episode);
  }

  private plan(episode: AppsEpisode): PlanItem[] {
    const rng = new Rng(hashSeed(`${this.taskId}/expert/${this.opts.seed}`));
    const skill = this.opts.skills ? expertSkill(episode.task.template, this.spec, episode.appsTask.world) : null;
    if (!skill) return plan(this.spec, this.settings.noise, this.settings.habit, rng);
    const known = episode.skills.get(skill.name)?.source === skill.source;
    return skillPlan(this.spec, skill, known, this.settings.noise, this.settings.habit, rng);
  }
}
