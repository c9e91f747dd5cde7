/**
 * Reads a list response back into rows, so a skill's `for` loop can walk it. Responses are rendered by
 * `renderList`/`renderRecord` (header `total=N page=P pages=Q`, then `key=value` records whose values are written
 * the way the call parser reads them), so this is the inverse of that rendering and nothing more.
 */
import type { Value } from './world';

export type ListRow = Record<string, Value>;

export interface ListPage {
  pages: number;
  rows: ListRow[];
}

const HEADER = /^total=(\d+) page=(\d+) pages=(\d+)$/;
const KEY = /^([a-z_][a-z0-9_]*)=/;
const NUMBER = /^-?\d+(\.\d+)?/;
const LIST = /^\[(-?\d+(?:,-?\d+)*)?\]/;

/** One page of a list response, or null when the response is not a list. Throws on a record it cannot read. */
export function parseListPage(observation: string): ListPage | null {
  const [header, ...lines] = observation.split('\n');
  const m = HEADER.exec(header);
  if (!m) return null;
  return { pages: Number(m[3]), rows: lines.map(parseRecord) };
}

export function parseRecord(line: string): ListRow {
  const row: ListRow = {};
  let rest = line;
  while ((rest = rest.trimStart()).length > 0) {
    const key = KEY.exec(rest);
    if (!key) throw new Error(`unreadable record: ${line}`);
    rest = rest.slice(key[0].length);
    let value: Value;
    if (rest.startsWith('"')) {
      let text = '';
      let i = 1;
      for (; i < rest.length && rest[i] !== '"'; i++) {
        if (rest[i] === '\\') i++;
        text += rest[i];
      }
      if (i >= rest.length) throw new Error(`unterminated string in record: ${line}`);
      value = text;
      rest = rest.slice(i + 1);
    } else if (/^(true|false)\b/.test(rest)) {
      value = rest.startsWith('true');
      rest = rest.slice(value ? 4 : 5);
    } else if (LIST.test(rest)) {
      const list = LIST.exec(rest)!;
      value = list[1] ? list[1].split(',').map(Number) : [];
      rest = rest.slice(list[0].length);
    } else if (NUMBER.test(rest)) {
      const num = NUMBER.exec(rest)![0];
      value = Number(num);
      rest = rest.slice(num.length);
    } else {
      throw new Error(`unreadable value for ${key[1]} in record: ${line}`);
    }
    row[key[1]] = value;
  }
  return row;
}
