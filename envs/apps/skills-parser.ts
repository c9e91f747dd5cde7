/**
 * Parses and checks a `def` action into a Skill. The language has only what a skill needs and nothing that can
 * run arbitrary code: API calls with literal, parameter or row-field arguments, `for x in <list call> { ... }`,
 * `if <operand> <op> <operand> { ... }`, statements separated by `;`. Every call is checked here against the
 * API registry (app, API, argument names) and every variable against its scope, so a skill that parses only
 * fails at run time on the world's data (a missing field, a 4xx from an API, the step bound).
 *
 *   def text_relation(relation, text): for c in phone.search_contacts(relation=relation) { phone.send_message(contact_id=c.id, text=text) }
 */
import { findApi } from './apis';
import type { CallStatement, Comparison, Operand, Skill, Statement } from './skills';

/** A skill problem as an API-style status and message; the episode shows it as `error: <status> <message>`. */
export class SkillError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

type Token = { kind: 'name' | 'string' | 'number' | 'symbol'; text: string; value?: string | number };

/** Names a skill cannot take: the library's own actions. */
export const RESERVED_SKILL_NAMES = ['list', 'show', 'define'] as const;

const KEYWORDS = new Set(['def', 'for', 'in', 'if', 'not', 'true', 'false']);
const SYMBOLS = ['==', '!=', '<=', '>=', '<', '>', '(', ')', '{', '}', ',', ';', '=', '.', ':'];
const COMPARISONS = new Set<string>(['==', '!=', '<', '<=', '>', '>=']);
const NAME = /^[a-z_][a-z0-9_]*/;
const NUMBER = /^-?\d+(\.\d+)?/;
export const MAX_SKILL_SOURCE_CHARS = 1000;

function lex(source: string): Token[] {
  const tokens: Token[] = [];
  let rest = source;
  while ((rest = rest.trimStart()).length > 0) {
    const name = NAME.exec(rest);
    const num = NUMBER.exec(rest);
    if (rest.startsWith('"')) {
      let value = '';
      let i = 1;
      for (; i < rest.length && rest[i] !== '"'; i++) {
        if (rest[i] === '\\') {
          if (rest[i + 1] !== '"' && rest[i + 1] !== '\\') throw new SkillError(400, 'bad escape in a string (only \\" and \\\\)');
          i++;
        }
        value += rest[i];
      }
      if (i >= rest.length) throw new SkillError(400, 'unterminated string');
      tokens.push({ kind: 'string', text: rest.slice(0, i + 1), value });
      rest = rest.slice(i + 1);
    } else if (num) {
      tokens.push({ kind: 'number', text: num[0], value: Number(num[0]) });
      rest = rest.slice(num[0].length);
    } else if (name) {
      tokens.push({ kind: 'name', text: name[0] });
      rest = rest.slice(name[0].length);
    } else {
      const symbol = SYMBOLS.find((s) => rest.startsWith(s));
      if (!symbol) throw new SkillError(400, `unexpected character ${JSON.stringify(rest[0])}`);
      tokens.push({ kind: 'symbol', text: symbol });
      rest = rest.slice(symbol.length);
    }
  }
  return tokens;
}

class Parser {
  private at = 0;
  /** Variables in scope: parameters hold values, loop variables hold rows. */
  private readonly scope = new Map<string, 'param' | 'row'>();

  constructor(private readonly tokens: Token[]) {}

  skill(source: string): Skill {
    this.expect('def');
    const name = this.name('skill name');
    if ((RESERVED_SKILL_NAMES as readonly string[]).includes(name)) throw new SkillError(422, `${name} is reserved; choose another skill name`);
    this.expect('(');
    const params: string[] = [];
    while (!this.accept(')')) {
      if (params.length > 0) this.expect(',');
      const p = this.name('parameter name');
      if (this.scope.has(p)) throw new SkillError(422, `duplicate parameter ${p}`);
      this.scope.set(p, 'param');
      params.push(p);
    }
    this.expect(':');
    const body = this.body();
    if (this.peek()) throw new SkillError(400, `unexpected ${this.peek()!.text} after the skill body`);
    return { name, params, body, source };
  }

  private body(): Statement[] {
    const out = [this.statement()];
    while (this.accept(';')) {
      if (!this.peek() || this.peek()!.text === '}') break;
      out.push(this.statement());
    }
    return out;
  }

  private block(): Statement[] {
    this.expect('{');
    const body = this.body();
    this.expect('}');
    return body;
  }

  private statement(): Statement {
    if (this.accept('for')) {
      const variable = this.name('loop variable');
      if (this.scope.has(variable)) throw new SkillError(422, `loop variable ${variable} hides another variable`);
      this.expect('in');
      const source = this.call();
      if (source.app === 'skills') throw new SkillError(422, 'a for loop runs over an API\'s list result, not a skill');
      this.scope.set(variable, 'row');
      const body = this.block();
      this.scope.delete(variable);
      return { kind: 'for', variable, source, body };
    }
    if (this.accept('if')) {
      const left = this.operand();
      const op = this.comparison();
      const right = this.operand();
      return { kind: 'if', left, op, right, body: this.block() };
    }
    return this.call();
  }

  private comparison(): Comparison {
    if (this.accept('in')) return 'in';
    if (this.accept('not')) {
      this.expect('in');
      return 'not in';
    }
    const t = this.peek();
    if (t?.kind !== 'symbol' || !COMPARISONS.has(t.text)) throw new SkillError(400, 'expected a comparison: == != < <= > >= in, not in');
    this.at++;
    return t.text as Comparison;
  }

  private call(): CallStatement {
    const app = this.name('app name');
    this.expect('.');
    const api = this.name('API name');
    const spec = app === 'skills' ? undefined : findApi(app, api);
    if (app === 'skills' && (RESERVED_SKILL_NAMES as readonly string[]).includes(api)) {
      throw new SkillError(422, `a skill can call other skills, not skills.${api}`);
    }
    if (app !== 'skills' && !spec) throw new SkillError(404, `unknown API ${app}.${api}`);
    if (app === 'supervisor' && api === 'complete_task') {
      throw new SkillError(422, 'a skill cannot complete the task; call supervisor.complete_task yourself');
    }
    this.expect('(');
    const args: [string, Operand][] = [];
    while (!this.accept(')')) {
      if (args.length > 0) this.expect(',');
      const arg = this.name('argument name');
      if (args.some(([a]) => a === arg)) throw new SkillError(422, `duplicate argument ${arg} for ${app}.${api}`);
      const known = spec && (arg === 'token' ? spec.auth : spec.params.some((p) => p.name === arg));
      if (spec && !known) throw new SkillError(422, `unknown argument ${arg} for ${app}.${api}`);
      this.expect('=');
      args.push([arg, this.operand()]);
    }
    return { kind: 'call', app, api, args };
  }

  private operand(): Operand {
    const t = this.peek();
    if (!t) throw new SkillError(400, 'expected a value');
    this.at++;
    if (t.kind === 'string' || t.kind === 'number') return { kind: 'literal', value: t.value! };
    if (t.text === 'true' || t.text === 'false') return { kind: 'literal', value: t.text === 'true' };
    if (t.kind !== 'name' || KEYWORDS.has(t.text)) throw new SkillError(400, `expected a value, got ${t.text}`);
    const role = this.scope.get(t.text);
    if (!role) throw new SkillError(422, `unknown variable ${t.text}: use a parameter or a loop variable`);
    if (role === 'param') {
      if (this.peek()?.text === '.') throw new SkillError(422, `parameter ${t.text} is a value, not a row`);
      return { kind: 'var', name: t.text };
    }
    if (!this.accept('.')) throw new SkillError(422, `loop variable ${t.text} is a row: use one of its fields, like ${t.text}.id`);
    return { kind: 'var', name: t.text, field: this.name('field name') };
  }

  private name(what: string): string {
    const t = this.peek();
    if (t?.kind !== 'name' || KEYWORDS.has(t.text)) throw new SkillError(400, `expected ${what}${t ? `, got ${t.text}` : ' at the end'}`);
    this.at++;
    return t.text;
  }

  private peek(): Token | undefined {
    return this.tokens[this.at];
  }

  private accept(text: string): boolean {
    const t = this.peek();
    if (t && t.text === text && t.kind !== 'string') {
      this.at++;
      return true;
    }
    return false;
  }

  private expect(text: string): void {
    if (!this.accept(text)) throw new SkillError(400, `expected "${text}"${this.peek() ? ` before ${this.peek()!.text}` : ' at the end'}`);
  }
}

/** Parses and checks one `def` line. Throws SkillError naming the problem. */
export function parseSkill(action: string): Skill {
  const source = action.replace(/\r?\n$/, '').trim();
  if (source.length > MAX_SKILL_SOURCE_CHARS) throw new SkillError(400, `skill longer than ${MAX_SKILL_SOURCE_CHARS} characters`);
  if (source.includes('\n')) throw new SkillError(400, 'a skill is one line');
  return new Parser(lex(source)).skill(source);
}
