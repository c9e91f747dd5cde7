/**
 * How an API is declared: its parameters (checked before the handler runs), its doc line, and a handler over
 * the world. Handlers signal 4xx-style problems by throwing `ApiError`; the dispatcher turns that into an error
 * observation, so nothing reaches the agent as an exception.
 */
import { renderRecord } from './protocol';
import type { Row, Value, World } from './world';

export type ParamType = 'string' | 'int' | 'bool';

export interface ParamSpec {
  name: string;
  type: ParamType;
  required: boolean;
  doc: string;
  /** Allowed values, for enumerated strings. */
  choices?: readonly string[];
}

/** What a handler can see and change. */
export interface ApiContext {
  world: World;
  /** app -> access token of the current episode's logins. */
  sessions: Map<string, string>;
  /** Draws a fresh access token (seeded per episode). */
  newToken(): string;
  /** Ends the episode with an optional answer (supervisor.complete_task). */
  complete(answer: string | undefined): void;
}

export interface ApiSpec {
  app: string;
  name: string;
  doc: string;
  params: ParamSpec[];
  /** Whether the call needs `token` from `<app>.login`. The token param is added automatically. */
  auth: boolean;
  handler(ctx: ApiContext, args: Record<string, Value>): string;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export const PAGE_SIZE = 5;

export function param(name: string, type: ParamType, doc: string, required = true, choices?: readonly string[]): ParamSpec {
  return { name, type, required, doc, choices };
}

export const pageParam = param('page', 'int', 'page index, from 0', false);

/** One line per row, with a header saying how many there are and which page this is. */
export function renderList(items: Record<string, Value>[], page = 0): string {
  const pages = Math.max(1, Math.ceil(items.length / PAGE_SIZE));
  if (page < 0 || page >= pages) throw new ApiError(422, `page ${page} out of range (pages=${pages})`);
  const shown = items.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  return [`total=${items.length} page=${page} pages=${pages}`, ...shown.map(renderRecord)].join('\n');
}

export function notFound(what: string, id: Value): never {
  throw new ApiError(404, `${what} ${String(id)} not found`);
}

export function findRow(world: World, table: keyof World['tables'], id: Value, what: string): Row {
  const row = world.tables[table][id as number];
  if (!row) notFound(what, id);
  return row;
}

/** Check arguments against the spec: unknown, missing and mistyped arguments are 422s that name the argument. */
export function validateArgs(spec: ApiSpec, args: Record<string, Value>): void {
  const all = spec.auth ? [param('token', 'string', 'access token'), ...spec.params] : spec.params;
  const known = new Set(all.map((p) => p.name));
  for (const name of Object.keys(args)) {
    if (!known.has(name)) {
      throw new ApiError(422, `unknown argument ${name} for ${spec.app}.${spec.name}; see api_docs.show_api_doc`);
    }
  }
  for (const p of all) {
    const v = args[p.name];
    if (v === undefined) {
      if (p.required) throw new ApiError(422, `missing argument ${p.name} for ${spec.app}.${spec.name}`);
      continue;
    }
    const ok = p.type === 'string' ? typeof v === 'string'
      : p.type === 'int' ? typeof v === 'number' && Number.isInteger(v)
        : typeof v === 'boolean';
    if (!ok) throw new ApiError(422, `argument ${p.name} must be ${p.type === 'int' ? 'an integer' : p.type}`);
    if (p.choices && !p.choices.includes(v as string)) {
      throw new ApiError(422, `argument ${p.name} must be one of ${p.choices.join('|')}`);
    }
  }
}

/** The one-line signature used by api_docs: `phone.send_message(token, contact_id:int, text, page?:int)`. */
export function signature(spec: ApiSpec): string {
  const parts = spec.params.map((p) => `${p.name}${p.required ? '' : '?'}${p.type === 'string' ? '' : `:${p.type}`}`);
  return `${spec.app}.${spec.name}(${[...(spec.auth ? ['token'] : []), ...parts].join(', ')})`;
}
