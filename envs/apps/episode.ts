/**
 * One episode: a private copy of the task's world, the sessions opened by logins, and the turns so far.
 *
 * Context policy (what `context()` returns, for a small model's window):
 *   the task prompt (instruction, supervisor, today)
 *   + a `sessions:` line with the access token of every app logged into so far (so tokens survive truncation)
 *   + a `skills:` line with the signature of every skill in the library, when it holds any
 *   + the last CONTEXT_TURNS turns as `> action` then the observation cut to CONTEXT_OBS_CHARS characters,
 *     preceded by `(N earlier turns omitted)` when turns were dropped
 *   + a final `> ` after which the next action is written.
 */
import { Rng, hashSeed } from '../../common/random';
import type { Episode, FinishReason, Score, StepResult, TaskInfo, Turn } from '../types';
import type { ApiContext } from './api-spec';
import { execute } from './runtime';
import { SkillLibrary, skillSignature } from './skills';
import { SkillSession, isSkillAction, type SkillUse } from './skills-runtime';
import type { AppsTask } from './tasks';
import { checkTask, type CheckResult } from './verifier';
import { cloneWorld, weekday, type World } from './world';

export const CONTEXT_TURNS = 5;
export const CONTEXT_OBS_CHARS = 420;
const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function taskPrompt(task: AppsTask): string {
  const s = task.world.supervisor;
  return [
    `Task: ${task.info.instruction}`,
    `Me: ${s.firstName} ${s.lastName}, ${s.email}, ${s.phone}. Today: ${task.world.today} (${weekday(task.world.today)}).`,
    'One API call per line. Docs: api_docs.show_api_doc(). Finish: supervisor.complete_task().',
  ].join('\n');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

export class AppsEpisode implements Episode {
  readonly task: TaskInfo;
  readonly initialObservation: string;
  readonly turns: Turn[] = [];
  done = false;
  finishReason: FinishReason = 'running';
  /** Privileged views for the scripted expert and the tests. */
  readonly world: World;
  readonly sessions = new Map<string, string>();
  answer: string | undefined;
  private readonly ctx: ApiContext;
  private readonly skillSession: SkillSession;
  /** Signatures of the skills the episode received from its chain (what a chat prompt shows with the task). */
  readonly skillsAtStart: readonly string[];

  /**
   * `skills`: the library the previous task of this chain returned (a fresh one when absent). The episode works
   * on its own copy, `this.skills`, which is what it hands to the next task of the chain.
   */
  constructor(readonly appsTask: AppsTask, seed: number, readonly maxTurns: number, skills?: SkillLibrary) {
    this.task = appsTask.info;
    this.initialObservation = taskPrompt(appsTask);
    this.world = cloneWorld(appsTask.world);
    const tokens = new Rng(hashSeed(`${appsTask.info.id}/tokens/${seed}`));
    this.ctx = {
      world: this.world,
      sessions: this.sessions,
      newToken: () => Array.from({ length: 6 }, () => tokens.pick([...TOKEN_CHARS])).join(''),
      complete: (answer) => {
        this.answer = answer;
        this.done = true;
        this.finishReason = 'completed';
      },
    };
    const scenario = appsTask.info.scenario;
    this.skillSession = new SkillSession((skills ?? SkillLibrary.empty(scenario)).forEpisode(scenario), this.ctx);
    this.skillsAtStart = this.skills.list().map(skillSignature);
  }

  /** This episode's skill library: the one received plus what it wrote. */
  get skills(): SkillLibrary {
    return this.skillSession.library;
  }

  /** Skills written and called in this episode. */
  get skillUse(): SkillUse {
    return this.skillSession.use;
  }

  step(action: string): StepResult {
    if (this.done) return { observation: 'error: 409 the episode is over', done: true, error: true };
    const text = typeof action === 'string' ? action : String(action);
    const result = isSkillAction(text) ? this.skillSession.run(text) : execute(text, this.ctx);
    this.turns.push({ action: text.replace(/\r?\n$/, ''), observation: result.observation, error: result.error });
    if (!this.done && this.turns.length >= this.maxTurns) {
      this.done = true;
      this.finishReason = 'max_turns';
    }
    return { observation: result.observation, done: this.done, error: result.error };
  }

  checks(): CheckResult {
    return checkTask(this.appsTask.world, this.appsTask.expected, this.world, this.appsTask.spec.answer, this.answer);
  }

  score(): Score {
    const c = this.checks();
    const completed = this.finishReason === 'completed';
    const passed = [completed, c.requestedChanges, c.noCollateral, ...(c.answer === null ? [] : [c.answer])];
    const success = passed.every(Boolean);
    return {
      reward: success ? 1 : 0,
      success,
      metrics: {
        checks_passed: passed.filter(Boolean).length,
        checks_total: passed.length,
        completed: Number(completed),
        requested_changes: Number(c.requestedChanges),
        no_collateral: Number(c.noCollateral),
        ...(c.answer === null ? {} : { answer_correct: Number(c.answer) }),
        turns: this.turns.length,
        errors: this.turns.filter((t) => t.error).length,
        ...this.skillMetrics(),
      },
    };
  }

  private skillMetrics(): Record<string, number> {
    const { written, calls } = this.skillUse;
    const ok = calls.filter((c) => c.ok);
    return {
      skills_written: written.length,
      skill_calls: calls.length,
      skill_calls_ok: ok.length,
      library_skill_calls_ok: ok.filter((c) => c.origin !== undefined && c.origin < this.skills.position).length,
    };
  }

  context(): string {
    const parts = [this.initialObservation];
    if (this.sessions.size > 0) {
      parts.push(`sessions: ${[...this.sessions].map(([app, token]) => `${app}=${token}`).join(' ')}`);
    }
    if (this.skills.size > 0) parts.push(`skills: ${this.skills.list().map(skillSignature).join(' ')}`);
    const shown = this.turns.slice(-CONTEXT_TURNS);
    const omitted = this.turns.length - shown.length;
    if (omitted > 0) parts.push(`(${omitted} earlier turns omitted)`);
    for (const t of shown) parts.push(`> ${t.action}`, truncate(t.observation, CONTEXT_OBS_CHARS));
    return `${parts.join('\n')}\n> `;
  }
}
