/**
 * Skills (SAGE): named, parameterised sequences of API calls an agent writes with a `def` action and calls as
 * `skills.<name>(...)`. This file holds the skill's parsed form and the `SkillLibrary`, the one object that carries
 * skills from one task of a chain to the next. A library belongs to one scenario: an episode copies the library
 * it receives (so rollouts that share a starting library never see each other's skills) and refuses one from
 * another scenario, so separate chains and unrelated tasks never share skills.
 */
import { parseSkill } from './skills-parser';
import type { Value } from './world';

export type Operand = { kind: 'literal'; value: Value } | { kind: 'var'; name: string; field?: string };
export interface CallStatement { kind: 'call'; app: string; api: string; args: [string, Operand][] }
export interface ForStatement { kind: 'for'; variable: string; source: CallStatement; body: Statement[] }
export type Comparison = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';
export interface IfStatement { kind: 'if'; left: Operand; op: Comparison; right: Operand; body: Statement[] }
export type Statement = CallStatement | ForStatement | IfStatement;

export interface Skill {
  name: string;
  params: string[];
  body: Statement[];
  /** The `def` line as written: what `skills.show` prints and what the library serialises. */
  source: string;
}

export interface LibrarySkill extends Skill {
  /** Chain position (0 = first task) of the episode that wrote it. */
  origin: number;
}

export interface SkillLibraryJSON {
  scope: string;
  /** Episodes of the chain that have received this library so far. */
  episodes: number;
  skills: { source: string; origin: number }[];
}

/** Most skills one library holds, so `skills.list()` stays readable. */
export const MAX_SKILLS = 20;

export class SkillLibrary {
  private readonly skills = new Map<string, LibrarySkill>();

  private constructor(readonly scope: string, readonly episodes: number) {}

  /** A fresh library for a chain of tasks from scenario `scope`. */
  static empty(scope: string): SkillLibrary {
    if (!scope) throw new Error('a skill library needs a scope (the scenario of its chain)');
    return new SkillLibrary(scope, 0);
  }

  static fromJSON(json: SkillLibraryJSON): SkillLibrary {
    if (!json || typeof json.scope !== 'string' || !Number.isInteger(json.episodes) || json.episodes < 0 || !Array.isArray(json.skills)) {
      throw new Error('skill library JSON needs scope (string), episodes (integer >= 0) and skills (array)');
    }
    const library = new SkillLibrary(json.scope, json.episodes);
    for (const { source, origin } of json.skills) {
      if (!Number.isInteger(origin) || origin < 0 || origin >= json.episodes) {
        throw new Error(`skill library JSON: origin ${origin} is not an earlier chain position (episodes=${json.episodes})`);
      }
      library.add(parseSkill(source), origin);
    }
    return library;
  }

  toJSON(): SkillLibraryJSON {
    return { scope: this.scope, episodes: this.episodes, skills: this.list().map((s) => ({ source: s.source, origin: s.origin })) };
  }

  /**
   * The copy the next episode of the chain works on: same skills, one more episode. Throws when the episode's
   * scenario is not the library's, because skills persist within a chain, not across unrelated tasks.
   */
  forEpisode(scenario: string): SkillLibrary {
    if (scenario !== this.scope) {
      throw new Error(`this skill library belongs to the chain of scenario ${this.scope}; a task of scenario ${scenario} cannot use it`);
    }
    const copy = new SkillLibrary(this.scope, this.episodes + 1);
    for (const s of this.skills.values()) copy.skills.set(s.name, s);
    return copy;
  }

  /** Chain position of the episode holding this copy (0 for the first task). */
  get position(): number {
    return this.episodes - 1;
  }

  get size(): number {
    return this.skills.size;
  }

  get(name: string): LibrarySkill | undefined {
    return this.skills.get(name);
  }

  /** Skills by name, so listings are stable. */
  list(): LibrarySkill[] {
    return [...this.skills.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Adds or replaces a skill written at chain position `origin`. Throws when the library is full. */
  add(skill: Skill, origin: number): LibrarySkill {
    if (!this.skills.has(skill.name) && this.skills.size >= MAX_SKILLS) {
      throw new Error(`the skill library is full (${MAX_SKILLS} skills); redefine one instead`);
    }
    const entry: LibrarySkill = { ...skill, origin };
    this.skills.set(skill.name, entry);
    return entry;
  }
}

/** `name(a, b)`: how listings and the context show a skill. */
export function skillSignature(skill: Skill): string {
  return `${skill.name}(${skill.params.join(', ')})`;
}
