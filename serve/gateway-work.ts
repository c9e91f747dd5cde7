/**
 * The episodes a training run hands the gateway (rollout engine `gateway`, policy/llm/gateway-rollout.ts), and the
 * agents that claim them. A rollout puts its episodes again at every poll (`PUT /v1/gateway/work`), so a restarted
 * gateway learns them back; an agent claims the oldest open one (`POST /v1/episodes`) and plays it under the claimed
 * id `<episode>:<attempt>`, its calls going to the version the run named. A claim with no call for `claimTimeoutMs`
 * lapses: the episode is handed out again as a new attempt, and the lapsed attempt's calls and reward are refused,
 * so a killed agent's half episode never mixes with its replay. Finished episodes live in the EpisodeBook (and its
 * JSONL file, which a restarted gateway reads back).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Trajectory } from '../trainer/trajectory';
import { ApiError } from './errors';

/** A work episode's id: an episode id without ':' (the claim adds `:<attempt>`). */
export const WORK_ID = /^[A-Za-z0-9._-]{1,100}$/;
const CLAIMED_ID = /^([A-Za-z0-9._-]{1,100}):([a-z0-9]+-\d+)$/;

export const workItem = z.strictObject({
  id: z.string().regex(WORK_ID),
  /** The served name the episode's calls go to, and the policy version it is. */
  model: z.string().min(1).max(512),
  version: z.int().min(0),
  /** What the agent plays: the environment, the task, the episode's seed, and the settings its world is built from. */
  task: z.strictObject({ env: z.string().min(1), id: z.string().min(1), seed: z.int(), settings: z.record(z.string(), z.unknown()).optional() }),
  sampling: z.strictObject({ temperature: z.number().min(0), top_p: z.number().gt(0).max(1), max_tokens: z.int().min(1), max_turns: z.int().min(1).optional() }),
});
export type WorkItem = z.infer<typeof workItem>;
export const workRequest = z.strictObject({ items: z.array(workItem).max(10_000) });

export type WorkStatus = 'open' | 'claimed' | 'done';

export interface WorkState {
  id: string;
  status: WorkStatus;
  /** Claims so far (a lapsed claim counts). */
  claims: number;
  /** The finished episode (status done). */
  trajectory?: Trajectory;
}

interface Entry {
  item: WorkItem;
  claims: number;
  /** The current claim's episode id, and when it last showed life (claim or call). */
  episode?: string;
  seenAt: number;
}

export interface Claim {
  episode: string;
  item: WorkItem;
}

export class WorkBoard {
  private readonly entries = new Map<string, Entry>();
  private readonly done = new Map<string, Trajectory>();
  /** Attempt ids carry this process's tag, so an attempt of a gateway that restarted can never be taken for a new one. */
  private readonly boot = randomBytes(3).toString('hex');

  constructor(
    private readonly claimTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Add the episodes not known yet (known ones keep their state); the state of each, in the order given. */
  put(items: WorkItem[]): WorkState[] {
    return items.map((item) => {
      const entry = this.entries.get(item.id);
      if (!entry) this.entries.set(item.id, { item, claims: 0, seenAt: 0 });
      else if (JSON.stringify(entry.item) !== JSON.stringify(item)) throw new ApiError(409, `work episode "${item.id}" was put before with other settings`);
      return this.state(item.id);
    });
  }

  /** The oldest episode nobody plays: open, or claimed and silent for claimTimeoutMs. */
  claim(): Claim | undefined {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      if (this.done.has(id) || (entry.episode && now - entry.seenAt < this.claimTimeoutMs)) continue;
      entry.claims++;
      entry.episode = `${id}:${this.boot}-${entry.claims}`;
      entry.seenAt = now;
      return { episode: entry.episode, item: entry.item };
    }
    return undefined;
  }

  /**
   * The work episode a claimed id plays, refreshed (a call shows life), or undefined for an id that is not a claim's
   * (a free episode the gateway's own policy serves). A lapsed, finished or unknown claim is a 409.
   */
  assignment(episodeId: string): WorkItem | undefined {
    const m = CLAIMED_ID.exec(episodeId);
    if (!m) return undefined;
    const entry = this.entries.get(m[1]);
    if (!entry) throw new ApiError(409, `episode "${episodeId}" is not one this gateway handed out (was it restarted?): claim a new one`);
    if (this.done.has(m[1])) throw new ApiError(409, `episode "${m[1]}" is finished`);
    if (entry.episode !== episodeId) throw new ApiError(409, `the claim "${episodeId}" lapsed and the episode was handed out again: claim a new one`);
    entry.seenAt = this.now();
    return entry.item;
  }

  /** Record a claimed episode's trajectory (after assignment() accepted its id, or read back from the JSONL file). */
  finish(episodeId: string, trajectory: Trajectory): void {
    const m = CLAIMED_ID.exec(episodeId);
    if (m) this.done.set(m[1], trajectory);
  }

  private state(id: string): WorkState {
    const entry = this.entries.get(id)!;
    const trajectory = this.done.get(id);
    if (trajectory) return { id, status: 'done', claims: entry.claims, trajectory };
    return { id, status: entry.episode ? 'claimed' : 'open', claims: entry.claims };
  }
}
