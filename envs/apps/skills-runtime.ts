/**
 * Runs the skill actions of one episode: `def ...` writes a skill, `skills.list()` and `skills.show(name=...)`
 * read the library, `skills.<name>(arg=value, ...)` runs a skill as one action. A skill only reaches the world
 * through `execute` (the same parser, argument checks and token checks as a typed call), makes at most
 * MAX_SKILL_API_CALLS API calls per action, and cannot call itself through any chain of skills. Every problem is
 * an `error: <status> <message>` observation; nothing here throws.
 *
 * Inside a skill, a call to an app that needs a token and names none gets the episode's session token for that
 * app, so one skill serves every episode of a chain (tokens differ per episode); the agent logs in first.
 */
import type { ApiContext } from './api-spec';
import { findApi } from './apis';
import { ParseError, formatCall, parseCall } from './protocol';
import { execute, type CallResult } from './runtime';
import { skillSignature, type CallStatement, type Comparison, type LibrarySkill, type Operand, type SkillLibrary, type Statement } from './skills';
import { SkillError, parseSkill } from './skills-parser';
import { parseListPage, type ListRow } from './skills-rows';
import type { Value } from './world';

/** API calls one skill action may make, nested skills and list pages included. */
export const MAX_SKILL_API_CALLS = 25;

export interface SkillCallRecord {
  name: string;
  ok: boolean;
  /** Chain position of the episode that wrote the skill; absent when no such skill exists. */
  origin?: number;
}

/** What an episode did with skills: its trajectory rows carry this. */
export interface SkillUse {
  /** Names defined (or redefined) in this episode, in order. */
  written: string[];
  calls: SkillCallRecord[];
}

const SKILL_ACTION = /^(def\s|skills\.)/;

export function isSkillAction(action: string): boolean {
  return SKILL_ACTION.test(action.trimStart());
}

type Scope = Map<string, Value | ListRow>;

/** One skill action's budget and call stack. */
interface Run {
  apiCalls: number;
  stack: string[];
  last: string | undefined;
}

export class SkillSession {
  readonly use: SkillUse = { written: [], calls: [] };

  constructor(readonly library: SkillLibrary, private readonly ctx: ApiContext) {}

  /** Runs one skill action (see isSkillAction). */
  run(action: string): CallResult {
    const line = action.replace(/\r?\n$/, '').trim();
    try {
      if (line.startsWith('def')) return { observation: this.define(line), error: false };
      return { observation: this.call(line), error: false };
    } catch (e) {
      if (e instanceof SkillError) return { observation: `error: ${e.status} ${e.message}`, error: true };
      if (e instanceof ParseError) return { observation: `error: 400 ${e.message}`, error: true };
      return { observation: `error: 500 internal error: ${(e as Error)?.message ?? String(e)}`, error: true };
    }
  }

  private define(line: string): string {
    const skill = parseSkill(line);
    for (const name of calledSkills(skill.body)) {
      if (name !== skill.name && !this.library.get(name)) throw new SkillError(404, `unknown skill ${name}; define it first`);
      if (name === skill.name) throw new SkillError(508, `skill ${name} calls itself`);
    }
    const replaced = this.library.get(skill.name) !== undefined;
    try {
      this.library.add(skill, this.library.position);
    } catch (e) {
      throw new SkillError(409, (e as Error).message);
    }
    this.use.written.push(skill.name);
    return `ok skill ${replaced ? 'replaced' : 'defined'}: ${skillSignature(skill)}`;
  }

  private call(line: string): string {
    const call = parseCall(line);
    if (call.api === 'list') {
      checkArgs('skills.list', call.args, []);
      const all = this.library.list();
      return all.length === 0 ? 'no skills yet; write one with def name(params): app.api(...)' : all.map(skillSignature).join('\n');
    }
    if (call.api === 'show') {
      checkArgs('skills.show', call.args, ['name']);
      return this.skillNamed(String(call.args.name)).source;
    }
    if (call.api === 'define') throw new SkillError(400, 'write a skill as one line: def name(params): app.api(arg=param, ...)');
    const skill = this.library.get(call.api);
    const record: SkillCallRecord = { name: call.api, ok: false, ...(skill ? { origin: skill.origin } : {}) };
    this.use.calls.push(record);
    const run: Run = { apiCalls: 0, stack: [], last: undefined };
    this.invoke(this.skillNamed(call.api), call.args, run);
    record.ok = true;
    const head = `ok skill ${call.api}: ${run.apiCalls} API call${run.apiCalls === 1 ? '' : 's'}`;
    return run.last === undefined ? head : `${head}\n${run.last}`;
  }

  private skillNamed(name: string): LibrarySkill {
    const skill = this.library.get(name);
    if (!skill) throw new SkillError(404, `unknown skill ${name}; see skills.list()`);
    return skill;
  }

  private invoke(skill: LibrarySkill, args: Record<string, Value>, run: Run): void {
    if (run.stack.includes(skill.name)) throw new SkillError(508, `recursion: ${[...run.stack, skill.name].join(' -> ')}`);
    checkArgs(`skills.${skill.name}`, args, skill.params);
    run.stack.push(skill.name);
    this.exec(skill.body, new Map(Object.entries(args)), run);
    run.stack.pop();
  }

  private exec(body: Statement[], scope: Scope, run: Run): void {
    for (const stmt of body) {
      if (stmt.kind === 'call') {
        if (stmt.app === 'skills') this.invoke(this.skillNamed(stmt.api), resolveArgs(stmt, scope, run), run);
        else run.last = this.apiCall(stmt.app, stmt.api, resolveArgs(stmt, scope, run), run);
      } else if (stmt.kind === 'if') {
        if (compare(resolve(stmt.left, scope, run), stmt.op, resolve(stmt.right, scope, run), run)) this.exec(stmt.body, scope, run);
      } else {
        for (const row of this.listRows(stmt.source, scope, run)) {
          scope.set(stmt.variable, row);
          this.exec(stmt.body, scope, run);
        }
        scope.delete(stmt.variable);
      }
    }
  }

  /** Every row of a list call: all pages, unless the call names its page. Read before the body runs. */
  private listRows(source: CallStatement, scope: Scope, run: Run): ListRow[] {
    const args = resolveArgs(source, scope, run);
    const where = `${source.app}.${source.api}`;
    const first = parseListPage(this.apiCall(source.app, source.api, args, run));
    if (!first) throw new SkillError(422, `in skill ${run.stack.at(-1)}: for needs a list result and ${where} returned none`);
    const rows = [...first.rows];
    if (args.page === undefined) {
      for (let page = 1; page < first.pages; page++) rows.push(...parseListPage(this.apiCall(source.app, source.api, { ...args, page }, run))!.rows);
    }
    return rows;
  }

  private apiCall(app: string, api: string, args: Record<string, Value>, run: Run): string {
    const where = `in skill ${run.stack.at(-1)}, ${app}.${api}`;
    if (++run.apiCalls > MAX_SKILL_API_CALLS) throw new SkillError(429, `${where}: more than ${MAX_SKILL_API_CALLS} API calls in one skill action`);
    const withToken = { ...args };
    if (findApi(app, api)?.auth && withToken.token === undefined) {
      const token = this.ctx.sessions.get(app);
      if (token === undefined) throw new SkillError(401, `${where}: log in to ${app} before calling this skill`);
      withToken.token = token;
    }
    const result = execute(formatCall(app, api, withToken), this.ctx);
    if (result.error) {
      const m = /^error: (\d+) ([\s\S]*)$/.exec(result.observation);
      throw new SkillError(m ? Number(m[1]) : 500, `${where}: ${m ? m[2] : result.observation}`);
    }
    return result.observation;
  }
}

function checkArgs(what: string, args: Record<string, Value>, params: string[]): void {
  for (const name of Object.keys(args)) if (!params.includes(name)) throw new SkillError(422, `unknown argument ${name} for ${what}`);
  for (const p of params) if (args[p] === undefined) throw new SkillError(422, `missing argument ${p} for ${what}`);
}

function resolveArgs(stmt: CallStatement, scope: Scope, run: Run): Record<string, Value> {
  return Object.fromEntries(stmt.args.map(([name, operand]) => [name, resolve(operand, scope, run)]));
}

function resolve(operand: Operand, scope: Scope, run: Run): Value {
  if (operand.kind === 'literal') return operand.value;
  const bound = scope.get(operand.name);
  if (operand.field === undefined) return bound as Value;
  const value = (bound as ListRow)[operand.field];
  if (value === undefined) {
    throw new SkillError(422, `in skill ${run.stack.at(-1)}: row ${operand.name} has no field ${operand.field} (it has ${Object.keys(bound as ListRow).join(', ')})`);
  }
  return value;
}

function compare(left: Value, op: Comparison, right: Value, run: Run): boolean {
  if (op === '==' || op === '!=') return (JSON.stringify(left) === JSON.stringify(right)) === (op === '==');
  if (op === 'in' || op === 'not in') {
    if (typeof right === 'string') return right.includes(String(left)) === (op === 'in');
    if (Array.isArray(right)) return right.includes(left as number) === (op === 'in');
    throw new SkillError(422, `in skill ${run.stack.at(-1)}: ${op} needs a list or a text on its right, got ${JSON.stringify(right)}`);
  }
  if (typeof left !== 'number' || typeof right !== 'number') {
    throw new SkillError(422, `in skill ${run.stack.at(-1)}: ${op} compares numbers, got ${JSON.stringify(left)} and ${JSON.stringify(right)}`);
  }
  return op === '<' ? left < right : op === '<=' ? left <= right : op === '>' ? left > right : left >= right;
}

/** Names of the skills a body calls. */
function calledSkills(body: Statement[]): string[] {
  return body.flatMap((s) => (s.kind === 'call' ? (s.app === 'skills' ? [s.api] : []) : s.body.flatMap((b) => calledSkills([b]))));
}
