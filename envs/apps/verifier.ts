/**
 * State-based checks, as in AppWorld: diff the final world against the initial one and against the expected
 * (ground-truth) world. Changed and deleted rows are matched by id; added rows are matched as a multiset of
 * their contents without ids, so creating the right things in another order still passes.
 *
 *   requested_changes   every change the solution makes is present
 *   no_collateral       nothing else changed (no extra modification, deletion or addition)
 *   answer              the answer matches, for question tasks
 */
import { TABLES, canonical, type Row, type World } from './world';

export interface Diff {
  /** `table/id` -> canonical row after the change. */
  changed: Map<string, string>;
  deleted: Set<string>;
  /** Canonical contents (without id) of added rows, with multiplicity. */
  added: string[];
}

function withoutId(row: Row): string {
  const { id: _id, ...rest } = row;
  return canonical(rest);
}

export function diffWorlds(before: World, after: World): Diff {
  const diff: Diff = { changed: new Map(), deleted: new Set(), added: [] };
  for (const table of TABLES) {
    const a = before.tables[table];
    const b = after.tables[table];
    for (const id of Object.keys(a)) {
      const key = `${table}/${id}`;
      if (!(id in b)) diff.deleted.add(key);
      else if (canonical(a[+id]) !== canonical(b[+id])) diff.changed.set(key, canonical(b[+id]));
    }
    for (const id of Object.keys(b)) if (!(id in a)) diff.added.push(`${table}:${withoutId(b[+id])}`);
  }
  diff.added.sort();
  return diff;
}

/** Counts of `needles` items missing from `haystack`, as multisets. */
function missingCount(needles: string[], haystack: string[]): number {
  const pool = new Map<string, number>();
  for (const h of haystack) pool.set(h, (pool.get(h) ?? 0) + 1);
  let missing = 0;
  for (const n of needles) {
    const left = pool.get(n) ?? 0;
    if (left > 0) pool.set(n, left - 1);
    else missing++;
  }
  return missing;
}

export function normalizeAnswer(text: string): string {
  return text.trim().toLowerCase().replace(/^\$/, '').replace(/[.\s]+$/, '').replace(/\s+/g, ' ');
}

export interface CheckResult {
  requestedChanges: boolean;
  noCollateral: boolean;
  /** Null when the task asks no question. */
  answer: boolean | null;
  /** Which kind of collateral damage was found, for error messages and tests. */
  collateral: { modified: number; deleted: number; added: number };
}

export function checkTask(initial: World, expected: World, final: World, expectedAnswer: string | undefined,
  givenAnswer: string | undefined): CheckResult {
  const want = diffWorlds(initial, expected);
  const got = diffWorlds(initial, final);
  const requestedChanges = [...want.changed].every(([k, v]) => got.changed.get(k) === v)
    && [...want.deleted].every((k) => got.deleted.has(k))
    && missingCount(want.added, got.added) === 0;
  const collateral = {
    modified: [...got.changed.keys()].filter((k) => !want.changed.has(k)).length,
    deleted: [...got.deleted].filter((k) => !want.deleted.has(k)).length,
    added: missingCount(got.added, want.added),
  };
  const noCollateral = collateral.modified + collateral.deleted + collateral.added === 0;
  const answer = expectedAnswer === undefined ? null
    : givenAnswer !== undefined && normalizeAnswer(givenAnswer) === normalizeAnswer(expectedAnswer);
  return { requestedChanges, noCollateral, answer, collateral };
}
