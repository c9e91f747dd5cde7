/**
 * The episodes a gateway records (serve/gateway.ts): one per `x-ratchet-episode` id, a turn per generation call, in
 * call order, closed by its reward. A closed episode is a trainer/trajectory.ts Trajectory, the row an in-process
 * rollout leaves, and is appended to the gateway's JSONL file when it has one.
 *
 * What the gateway cannot see, it does not invent: an external agent's environment is its own, so `observation` is
 * empty and a turn's `nextContext` is the next call's context (the last turn's is empty); `envErrors` is 0.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { FinishReason } from '../envs/types';
import type { Trajectory, TurnRecord } from '../trainer/trajectory';
import { ApiError, badRequest } from './errors';

/** Episode ids: what a header and a URL path carry without escaping. */
export const EPISODE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const rewardRequest = z.object({
  reward: z.number(),
  success: z.boolean().optional(),
  task_id: z.string().min(1).optional(),
  group: z.int().min(0).optional(),
  sample: z.int().min(0).optional(),
  seed: z.int().optional(),
  finish_reason: z.enum(['completed', 'max_turns']).optional(),
  metrics: z.record(z.string(), z.number()).optional(),
});
export type RewardRequest = z.infer<typeof rewardRequest>;

interface OpenEpisode {
  id: string;
  /** The version that sampled the first turn (a later turn by a newer version is counted in `metrics.stale_turns`). */
  policyVersion?: number;
  staleTurns: number;
  taskId?: string;
  turns: TurnRecord[];
  trajectory?: Trajectory;
}

export interface EpisodeSummary {
  id: string;
  status: 'open' | 'done';
  turns: number;
  trajectory: Trajectory | null;
}

export class EpisodeBook {
  private readonly episodes = new Map<string, OpenEpisode>();

  /** `out`: a JSONL file each closed episode is appended to, as `{episodeId, ...trajectory}`. */
  constructor(private readonly out?: string) {}

  /**
   * Read back the episodes `out` already holds (a restarted gateway): they are finished again, so a second reward is
   * still refused. A torn last line (a crash mid-append) is skipped. Returns them in file order.
   */
  restore(): { id: string; trajectory: Trajectory }[] {
    if (!this.out || !existsSync(this.out)) return [];
    const text = readFileSync(this.out, 'utf8');
    if (text && !text.endsWith('\n')) appendFileSync(this.out, '\n'); // the next episode starts a line of its own
    const restored: { id: string; trajectory: Trajectory }[] = [];
    for (const line of text.split('\n')) {
      let parsed: Trajectory & { episodeId: string };
      try {
        parsed = JSON.parse(line) as Trajectory & { episodeId: string };
      } catch {
        continue;
      }
      const { episodeId: id, ...trajectory } = parsed;
      this.episodes.set(id, { id, policyVersion: trajectory.policyVersion, staleTurns: 0, taskId: trajectory.taskId, turns: trajectory.turns, trajectory });
      restored.push({ id, trajectory });
    }
    return restored;
  }

  /** Record one generation call of an episode (opened by its first call). 409 once the episode has its reward. */
  record(id: string, turn: Omit<TurnRecord, 'observation' | 'error' | 'nextContext'>, policyVersion: number, taskId?: string): void {
    const episode = this.open(id);
    const previous = episode.turns[episode.turns.length - 1];
    if (previous) previous.nextContext = turn.context;
    episode.policyVersion ??= policyVersion;
    if (policyVersion !== episode.policyVersion) episode.staleTurns++;
    episode.taskId ??= taskId;
    episode.turns.push({ ...turn, observation: '', error: false, nextContext: '' });
  }

  /** Check the episode can take another call before it is forwarded (a finished one cannot). */
  assertOpen(id: string): void {
    if (this.episodes.get(id)?.trajectory) throw new ApiError(409, `episode "${id}" already has its reward; start a new episode id`);
  }

  /** Attach the reward: the episode becomes its trajectory. 404 for an episode with no calls, 409 for a second reward. */
  finish(id: string, request: RewardRequest): Trajectory {
    const episode = this.episodes.get(id);
    if (!episode || episode.turns.length === 0) throw new ApiError(404, `episode "${id}" has no recorded calls (send x-ratchet-episode: ${id} with its completions first)`);
    if (episode.trajectory) throw new ApiError(409, `episode "${id}" already has its reward`);
    if (request.task_id && episode.taskId && request.task_id !== episode.taskId) {
      throw badRequest(`task_id "${request.task_id}" differs from the episode's x-ratchet-task "${episode.taskId}"`, 'task_id');
    }
    const trajectory: Trajectory = {
      taskId: request.task_id ?? episode.taskId ?? id,
      group: request.group ?? 0,
      sample: request.sample ?? 0,
      seed: request.seed ?? 0,
      policyVersion: episode.policyVersion!,
      turns: episode.turns,
      reward: request.reward,
      success: request.success ?? request.reward > 0,
      finishReason: (request.finish_reason ?? 'completed') satisfies FinishReason,
      envErrors: 0,
      metrics: { ...request.metrics, stale_turns: episode.staleTurns },
    };
    episode.trajectory = trajectory;
    if (this.out) appendFileSync(this.out, `${JSON.stringify({ episodeId: id, ...trajectory })}\n`);
    return trajectory;
  }

  get(id: string): EpisodeSummary {
    const episode = this.episodes.get(id);
    if (!episode) throw new ApiError(404, `no episode "${id}"`);
    return summary(episode);
  }

  list(): EpisodeSummary[] {
    return [...this.episodes.values()].map(summary);
  }

  private open(id: string): OpenEpisode {
    let episode = this.episodes.get(id);
    if (!episode) {
      episode = { id, staleTurns: 0, turns: [] };
      this.episodes.set(id, episode);
    }
    return episode;
  }
}

const summary = (e: OpenEpisode): EpisodeSummary => ({ id: e.id, status: e.trajectory ? 'done' : 'open', turns: e.turns.length, trajectory: e.trajectory ?? null });
