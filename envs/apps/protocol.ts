/**
 * The text protocol: one API call per line, `app.api(name="text", n=3, flag=true)`, and compact renderings
 * of responses. The parser is strict (whole line, double-quoted strings, no positional or duplicate arguments)
 * so the small model learns one regular form; anything else is a `ParseError` that becomes an error observation.
 */
import type { Value } from './world';

export interface ParsedCall {
  app: string;
  api: string;
  args: Record<string, Value>;
}

export class ParseError extends Error {}

const HEAD = /^([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\(/;
const NAME = /^[a-z_][a-z0-9_]*/;
const NUMBER = /^-?\d+(\.\d+)?/;
const MAX_ACTION_CHARS = 1000;

/** Parse one action line. Throws ParseError naming the problem. */
export function parseCall(action: string): ParsedCall {
  const line = action.replace(/\r?\n$/, '').trim();
  if (line.length === 0) throw new ParseError('empty action: write one call like app.api(arg="value")');
  if (line.length > MAX_ACTION_CHARS) throw new ParseError(`action longer than ${MAX_ACTION_CHARS} characters`);
  if (line.includes('\n')) throw new ParseError('one call per line');
  const head = HEAD.exec(line);
  if (!head) throw new ParseError('malformed call: expected app.api(arg=value, ...)');
  const args: Record<string, Value> = {};
  let rest = line.slice(head[0].length);
  let first = true;
  for (;;) {
    rest = rest.trimStart();
    if (rest.startsWith(')')) {
      if (rest.slice(1).trim() !== '') throw new ParseError('unexpected text after the closing parenthesis');
      return { app: head[1], api: head[2], args };
    }
    if (!first) {
      if (!rest.startsWith(',')) throw new ParseError('expected "," or ")" between arguments');
      rest = rest.slice(1).trimStart();
    }
    first = false;
    const name = NAME.exec(rest);
    if (!name) throw new ParseError('expected an argument name (arguments are name=value)');
    rest = rest.slice(name[0].length).trimStart();
    if (!rest.startsWith('=')) throw new ParseError(`expected "=" after argument ${name[0]}`);
    rest = rest.slice(1).trimStart();
    if (Object.prototype.hasOwnProperty.call(args, name[0])) throw new ParseError(`duplicate argument ${name[0]}`);
    const [value, after] = parseValue(rest, name[0]);
    args[name[0]] = value;
    rest = after;
  }
}

function parseValue(text: string, arg: string): [Value, string] {
  if (text.startsWith('"')) {
    let out = '';
    for (let i = 1; i < text.length; i++) {
      const ch = text[i];
      if (ch === '\\') {
        const next = text[i + 1];
        if (next !== '"' && next !== '\\') throw new ParseError(`bad escape in string for ${arg}`);
        out += next;
        i++;
      } else if (ch === '"') {
        return [out, text.slice(i + 1)];
      } else {
        out += ch;
      }
    }
    throw new ParseError(`unterminated string for ${arg}`);
  }
  if (text.startsWith('true')) return [true, text.slice(4)];
  if (text.startsWith('false')) return [false, text.slice(5)];
  const num = NUMBER.exec(text);
  if (num) return [Number(num[0]), text.slice(num[0].length)];
  throw new ParseError(`bad value for ${arg}: use "text", a number, true or false`);
}

/** Render a value the way the parser reads it back, so observations can be copied into calls verbatim. */
export function renderValue(value: Value): string {
  if (typeof value === 'string') return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  if (Array.isArray(value)) return `[${value.join(',')}]`;
  return String(value);
}

export function renderRecord(record: Record<string, Value>): string {
  return Object.entries(record).map(([k, v]) => `${k}=${renderValue(v)}`).join(' ');
}

/** Format a call in the canonical syntax (the expert and docs use this). */
export function formatCall(app: string, api: string, args: Record<string, Value> = {}): string {
  return `${app}.${api}(${Object.entries(args).map(([k, v]) => `${k}=${renderValue(v)}`).join(', ')})`;
}
