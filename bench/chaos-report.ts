/** bench:chaos's table: one row per fault kind, from the per-point outcomes alone. */
import type { ChaosKind, ChaosOutcome } from '../test/integration/support/chaos';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const seconds = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(1)} s` : '-');

export function chaosTable(outcomes: ChaosOutcome[]): string {
  const kinds = [...new Set(outcomes.map((o) => o.point.kind))];
  const lines = [
    '| fault kind | injections (fired / cost an attempt) | runs completed | rows lost / duplicated / differing | checkpoints equal to fault-free | recovery median / max |',
    '|---|---|---|---|---|---|',
  ];
  for (const kind of kinds) lines.push(row(kind, outcomes.filter((o) => o.point.kind === kind)));
  return lines.join('\n');
}

function row(kind: ChaosKind, outcomes: ChaosOutcome[]): string {
  const n = outcomes.length;
  const fired = outcomes.filter((o) => o.fired).length;
  const hit = outcomes.filter((o) => o.retries.length > 0).length;
  const completed = outcomes.filter((o) => o.status === 'completed').length;
  const hung = outcomes.filter((o) => o.status === 'hung').length;
  const sum = (f: (o: ChaosOutcome) => number) => outcomes.reduce((s, o) => s + f(o), 0);
  const rows = `${sum((o) => o.lost)} / ${sum((o) => o.duplicated)} / ${sum((o) => o.differing + o.extra)}`;
  const recoveries = outcomes.map((o) => o.recoveryMs).filter((x): x is number => x !== undefined);
  if (kind === 'corrupt-artifact') {
    // Here failing is the goal: refused by sha256, non-retryably, with nothing of the corrupted step recorded.
    const refused = outcomes.filter((o) => o.refusedCorruption).length;
    return `| ${kind} | ${n} (${fired} / n/a) | ${completed}/${n} (goal 0; refused by sha256, non-retryable: ${refused}/${n}) | ${rows} (steps before the fault) | n/a | - |`;
  }
  const equal = outcomes.filter((o) => o.checkpointEqual).length;
  // No recovery when the fault landed after the run's last piece of work (nothing was left to redo).
  const measured = recoveries.length < n ? ` (${recoveries.length} of ${n}: the others left nothing to redo)` : '';
  const recovery = recoveries.length ? `${seconds(median(recoveries))} / ${seconds(Math.max(...recoveries))}${measured}` : '-';
  return `| ${kind} | ${n} (${fired} / ${hit}) | ${completed}/${n}${hung ? ` (${hung} hung)` : ''} | ${rows} | ${equal}/${n} | ${recovery} |`;
}
