/**
 * What the worker processes of bench/pipeline.ts logged about each activity (workers/observability's pino line
 * `activity completed`: run, step, activity, durationMs). Beside a step row's phaseMs (workflow clock,
 * scheduling and queueing included) it splits each phase into time inside the activity and time around it.
 */
import { existsSync, readFileSync } from 'node:fs';

export interface ActivityEntry {
  run: string;
  step: number;
  activity: string;
  durationMs: number;
}

/** One worker's log file: its completed activities. */
export function readActivityLog(file: string): ActivityEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"activity completed"'))
    .map((line) => JSON.parse(line) as ActivityEntry);
}

/**
 * Milliseconds inside `phase`'s activities in one step: the longest shard of a fan-out (the shards run at once),
 * the sum for the others (a DAPO refill runs a phase more than once).
 */
export function insideMs(entries: ActivityEntry[], run: string, step: number, phase: string): number {
  const ms = entries.filter((e) => e.run === run && e.step === step && e.activity === phase).map((e) => e.durationMs);
  return phase === 'rolloutBatch' ? Math.max(0, ...ms) : ms.reduce((a, b) => a + b, 0);
}

/** Per step, how many rollout shards each worker (one log each) ran, e.g. "2+0": both on one worker. */
export function shardPlacement(workers: ActivityEntry[][], run: string, steps: number[]): string[] {
  return steps.map((step) => workers.map((entries) => entries.filter((e) => e.run === run && e.step === step && e.activity === 'rolloutBatch').length).join('+'));
}
