/**
 * DAPO's dynamic sampling (Yu et al. 2025, arXiv 2503.14476): a group whose rollouts all got the same reward
 * has zero group-relative advantage, so it only dilutes the batch. Drop such groups, and sample more tasks so
 * the batch still holds the target number of informative groups.
 */
import { GroupId, indicesByGroup } from './group-advantages';

export interface GroupFilterResult {
  /** Trajectory indices of the informative groups, in input order. */
  keep: number[];
  keptGroups: GroupId[];
  /** Groups whose rewards were all equal (within `tolerance`). */
  droppedGroups: GroupId[];
}

/** Keep groups with max(s) − min(s) > tolerance (default 0: any difference counts). */
export function filterInformativeGroups(
  scores: readonly number[],
  groups: readonly GroupId[],
  tolerance = 0,
): GroupFilterResult {
  if (scores.length !== groups.length) throw new Error(`${scores.length} scores but ${groups.length} group ids`);
  const keptGroups: GroupId[] = [];
  const droppedGroups: GroupId[] = [];
  const keepGroup = new Set<GroupId>();
  for (const [g, members] of indicesByGroup(groups)) {
    const s = members.map((i) => scores[i]);
    if (Math.max(...s) - Math.min(...s) > tolerance) {
      keptGroups.push(g);
      keepGroup.add(g);
    } else {
      droppedGroups.push(g);
    }
  }
  const keep = groups.flatMap((g, i) => (keepGroup.has(g) ? [i] : []));
  return { keep, keptGroups, droppedGroups };
}

export interface OversampleOptions {
  /** Informative groups the batch should hold. */
  targetGroups: number;
  /** Informative groups already collected this step. */
  keptGroups: number;
  /** Observed fraction of sampled groups that turned out informative (e.g. a running mean), in [0, 1]. */
  keepRate: number;
  /** Never ask for more than this many times the missing groups (keeps a run from stalling when all tasks are solved). Default 4. */
  maxFactor?: number;
}

/**
 * How many more groups to sample: ceil(missing / max(keepRate, 1/maxFactor)), missing = target − kept.
 * 0 when the batch is already full. With keepRate 0.5 and 8 groups missing it asks for 16.
 */
export function groupsToOversample({ targetGroups, keptGroups, keepRate, maxFactor = 4 }: OversampleOptions): number {
  const missing = targetGroups - keptGroups;
  if (missing <= 0) return 0;
  const rate = Math.max(Math.min(keepRate, 1), 1 / maxFactor);
  return Math.ceil(missing / rate - 1e-9);
}
