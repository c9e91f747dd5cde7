/**
 * The step activities for the built-in `bandit` environment with a tabular softmax policy.
 * Each loads its inputs by reference, calls envs/bandit, stores its output under a deterministic key and
 * returns references: a retry rewrites the same artifacts and rows.
 */
import { Rng } from '../../common/random';
import { upsertCheckpoint, upsertStep, upsertTasks, upsertTrajectories } from '../../db/queries';
import { BanditEnvironment, groupAdvantages, SoftmaxPolicy, type BanditAlgorithm } from '../../envs/bandit';
import { evaluationAttempts, type RunConfig } from '../../config/run-config';
import { filterInformativeGroups } from '../../rl/dynamic-sampling';
import { passAtK } from '../../rl/pass-at-k';
import type {
  ArtifactRef,
  CheckRewardsInput,
  ComputeAdvantagesInput,
  EnvStepActivities,
  PolicyRef,
  ScoreBatchInput,
  SelectTasksInput,
  UpdatePolicyInput,
} from '../contract';
import { artifactKeys, stepKey } from '../../common/artifact-keys';
import { getJson, putJson } from '../../common/artifacts';
import { type ActivityDeps, heartbeat, sleepWithHeartbeats, stepRow } from '../deps';

interface Rollout {
  group: number;
  sample: number;
  taskId: string;
  episodeSeed: number;
  actions: string[];
  envErrors: number;
  finishReason: string;
}

interface RewardRow {
  group: number;
  sample: number;
  taskId: string;
  reward: number;
  success: boolean;
}

interface AdvantageRow {
  group: number;
  sample: number;
  taskId: string;
  advantage: number;
}

const environments = new Map<string, BanditEnvironment>();

function environmentFor(config: RunConfig): BanditEnvironment {
  const { arms, tasks, worldSeed } = config.bandit;
  const cacheKey = `${arms}/${tasks}/${worldSeed}`;
  let env = environments.get(cacheKey);
  if (!env) environments.set(cacheKey, (env = new BanditEnvironment({ arms, tasksPerSplit: tasks, worldSeed })));
  return env;
}

async function loadPolicy(deps: ActivityDeps, ref: ArtifactRef): Promise<SoftmaxPolicy> {
  return SoftmaxPolicy.fromJSON(new TextDecoder().decode(await deps.store.get(ref.key, ref.sha256)));
}

async function loadRollouts(deps: ActivityDeps, refs: ArtifactRef[]): Promise<Rollout[]> {
  return (await Promise.all(refs.map((ref) => getJson<Rollout[]>(deps.store, ref)))).flat();
}

const tokenCount = (text: string) => text.split(/\s+/).filter(Boolean).length;

// What the tabular policy's activities read of the shared step inputs: no curriculum, critic, scores or KL.
type BanditSelectInput = Pick<SelectTasksInput, 'step' | 'config' | 'round' | 'count' | 'exclude'>;
type BanditRewardsInput = Pick<CheckRewardsInput, 'runId' | 'step' | 'config' | 'rollouts' | 'round' | 'previous'>;
type BanditScoreInput = Pick<ScoreBatchInput, 'runId' | 'step' | 'rollouts' | 'policy'>;
type BanditAdvantagesInput = Pick<ComputeAdvantagesInput, 'runId' | 'step' | 'config' | 'rewards'>;
type BanditUpdateInput = Pick<UpdatePolicyInput, 'runId' | 'step' | 'config' | 'policy' | 'rollouts' | 'advantages' | 'learningRate'>;

export function createBanditActivities(deps: ActivityDeps): EnvStepActivities {
  return {
    async initPolicy({ runId, config }) {
      const policy = new SoftmaxPolicy(config.bandit.arms);
      const key = artifactKeys.banditVersion(runId, 'policy', 0);
      const { sha256 } = await deps.store.put(key, new TextEncoder().encode(policy.toJSON()));
      await upsertCheckpoint(deps.db, { runId, version: 0, step: 0, artifactKey: key, sha256 });
      return { version: 0, key, sha256 };
    },

    async selectTasks({ step, config, round, count, exclude }: BanditSelectInput) {
      const env = environmentFor(config);
      const drawn = new Set(exclude);
      const pool = env.tasks(config.split).filter((t) => !drawn.has(t.id));
      // A refill round draws from its own stream: round 0 stays what it was before refill existed.
      const chosen = new Rng(config.seed).fork(round > 0 ? `tasks/${step}/refill-${round}` : `tasks/${step}`).sample(pool, count);
      await upsertTasks(
        deps.db,
        chosen.map((t) => ({ env: 'bandit', taskId: t.id, split: t.split, template: t.template, level: t.level, scenario: t.scenario })),
      );
      return { taskIds: chosen.map((t) => t.id) };
    },

    async rolloutBatch({ runId, step, config, shard, taskIds, firstGroup, policy: policyRef }) {
      const env = environmentFor(config);
      const policy = await loadPolicy(deps, policyRef);
      const rollouts: Rollout[] = [];
      for (const [offset, taskId] of taskIds.entries()) {
        for (let sample = 0; sample < config.groupSize; sample++) {
          const rng = new Rng(config.seed).fork(`rollout/${step}/${taskId}/${sample}`);
          const episodeSeed = rng.int(0, 0x7fffffff);
          const episode = env.createEpisode(taskId, episodeSeed);
          episode.step(`pull ${policy.sample(taskId, rng)}`);
          rollouts.push({
            group: firstGroup + offset,
            sample,
            taskId,
            episodeSeed,
            actions: episode.turns.map((t) => t.action),
            envErrors: episode.turns.filter((t) => t.error).length,
            finishReason: episode.finishReason,
          });
        }
        heartbeat({ shard, done: offset + 1 });
      }
      if (config.bandit.rolloutLatencyMs > 0) await sleepWithHeartbeats(config.bandit.rolloutLatencyMs, { shard });
      const rolloutsRef = await putJson(deps.store, artifactKeys.rolloutShard(runId, step, shard), rollouts);
      return { rollouts: rolloutsRef, trajectories: rollouts.length };
    },

    async checkRewards({ runId, step, config, rollouts: refs, round, previous }: BanditRewardsInput) {
      const env = environmentFor(config);
      const verified: RewardRow[] = (await loadRollouts(deps, refs)).map((r) => {
        // The verifier replays the recorded actions in a fresh episode and scores it against ground truth.
        const episode = env.createEpisode(r.taskId, r.episodeSeed);
        for (const action of r.actions) episode.step(action);
        const { reward, success } = episode.score();
        return { group: r.group, sample: r.sample, taskId: r.taskId, reward, success };
      });
      // A refill round's rewards cover the earlier rounds' too.
      const rows = [...(previous ? await getJson<RewardRow[]>(deps.store, previous) : []), ...verified];
      const rewards = await putJson(deps.store, stepKey(runId, step, round > 0 ? `rewards-round-${round}.json` : 'rewards.json'), rows);
      const n = Math.max(1, rows.length);
      const groups = rows.map((r) => r.group);
      return {
        rewards,
        meanReward: rows.reduce((s, r) => s + r.reward, 0) / n,
        successRate: rows.filter((r) => r.success).length / n,
        groups: new Set(groups).size,
        informativeGroups: filterInformativeGroups(rows.map((r) => r.reward), groups).keptGroups.length,
      };
    },

    async scoreBatch({ runId, step, rollouts: refs, policy: policyRef }: BanditScoreInput) {
      const policy = await loadPolicy(deps, policyRef);
      const rollouts = await loadRollouts(deps, refs);
      const oldLogProbs = rollouts.map((r) => ({ group: r.group, sample: r.sample, logProb: armOf(r) >= 0 ? policy.logProb(r.taskId, armOf(r)) : null }));
      const taskIds = [...new Set(rollouts.map((r) => r.taskId))];
      const entropy = taskIds.reduce((s, id) => s + policy.entropy(id), 0) / Math.max(1, taskIds.length);
      const scores = await putJson(deps.store, stepKey(runId, step, 'scores.json'), oldLogProbs);
      return { scores, entropy };
    },

    async computeAdvantages({ runId, step, config, rewards: rewardsRef }: BanditAdvantagesInput) {
      const rows = await getJson<RewardRow[]>(deps.store, rewardsRef);
      const groups = new Map<number, RewardRow[]>();
      for (const row of rows) groups.set(row.group, [...(groups.get(row.group) ?? []), row]);
      const ordered = [...groups.values()].map((g) => g.sort((a, b) => a.sample - b.sample));
      // The config schema admits only the bandit's algorithms for env "bandit".
      const advantages = groupAdvantages(ordered.map((g) => g.map((r) => r.reward)), config.algorithm as BanditAlgorithm);
      const out: AdvantageRow[] = ordered.flatMap((g, i) => g.map((r, j) => ({ group: r.group, sample: r.sample, taskId: r.taskId, advantage: advantages[i][j] })));
      const flatGroups = ordered.filter((g) => g.every((r) => r.reward === g[0].reward)).length;
      return { advantages: await putJson(deps.store, stepKey(runId, step, 'advantages.json'), out), flatGroups, meanKl: 0 };
    },

    async updatePolicy({ runId, step, config, policy: policyRef, rollouts: refs, advantages: advantagesRef, learningRate }: BanditUpdateInput) {
      const policy = await loadPolicy(deps, policyRef);
      const rollouts = await loadRollouts(deps, refs);
      const advantages = await getJson<AdvantageRow[]>(deps.store, advantagesRef);
      const armByKey = new Map(rollouts.map((r) => [`${r.group}/${r.sample}`, armOf(r)]));
      heartbeat({ phase: 'update', samples: advantages.length });
      const samples = advantages
        .filter((a) => armByKey.get(`${a.group}/${a.sample}`)! >= 0)
        .map((a) => ({ taskId: a.taskId, arm: armByKey.get(`${a.group}/${a.sample}`)!, advantage: a.advantage }));
      const updated = policy.update(samples, learningRate);
      if (config.bandit.updateLatencyMs > 0) await sleepWithHeartbeats(config.bandit.updateLatencyMs, { phase: 'update' });
      const taskIds = [...new Set(samples.map((s) => s.taskId))];
      const kl = taskIds.reduce((s, id) => s + policy.kl(updated, id), 0) / Math.max(1, taskIds.length);
      const version = policyRef.version + 1;
      const key = artifactKeys.banditVersion(runId, 'checkpoints', version);
      const { sha256 } = await deps.store.put(key, new TextEncoder().encode(updated.toJSON()));
      await upsertCheckpoint(deps.db, { runId, version, step, artifactKey: key, sha256 });
      return { checkpoint: { version, step, key, sha256 }, kl };
    },

    async syncWeights({ runId, checkpoint }) {
      // For the tabular policy "export" is a verified copy; the transformer exports ONNX here instead.
      const bytes = await deps.store.get(checkpoint.key, checkpoint.sha256);
      const key = artifactKeys.banditVersion(runId, 'policy', checkpoint.version);
      const { sha256 } = await deps.store.put(key, bytes);
      return { version: checkpoint.version, key, sha256 } satisfies PolicyRef;
    },

    async recordStep(input) {
      const { runId, step, rollouts: refs, rewards: rewardsRef, policyVersion, metrics } = input;
      const rewards = new Map((await getJson<RewardRow[]>(deps.store, rewardsRef)).map((r) => [`${r.group}/${r.sample}`, r]));
      const rows = [];
      for (const ref of refs) {
        for (const r of await getJson<Rollout[]>(deps.store, ref)) {
          const reward = rewards.get(`${r.group}/${r.sample}`);
          if (!reward) throw new Error(`recordStep: no reward for group ${r.group} sample ${r.sample} of step ${step}`);
          rows.push({
            runId,
            step,
            group: r.group,
            sample: r.sample,
            taskId: r.taskId,
            policyVersion,
            reward: reward.reward,
            success: reward.success,
            turns: r.actions.length,
            tokens: r.actions.reduce((s, a) => s + tokenCount(a), 0),
            finishReason: r.finishReason,
            envErrors: r.envErrors,
            artifactKey: ref.key,
            artifactSha256: ref.sha256,
          });
        }
      }
      await upsertTrajectories(deps.db, rows);
      await upsertStep(
        deps.db,
        stepRow(input, { trajectories: rows.length, tokens: rows.reduce((s, r) => s + r.tokens, 0) }, { ...metrics, phaseMs: metrics.phaseMs ?? {} }),
      );
    },

    async evaluatePolicy({ runId, step, config, policy: policyRef, split, tasks, mode, k }) {
      const env = environmentFor(config);
      const policy = await loadPolicy(deps, policyRef);
      const pool = env.tasks(split);
      const chosen = tasks > 0 ? pool.slice(0, tasks) : pool;
      const samples = evaluationAttempts(config.evaluation, mode, k);
      const perTask = chosen.map((task) => {
        const attempts = Array.from({ length: samples }, (_, sample) => {
          // Keyed by (seed, split, task, sample) only: every evaluation of the run sees the same payoff draws.
          const rng = new Rng(config.seed).fork(`eval/${split}/${task.id}/${sample}`);
          const episode = env.createEpisode(task.id, rng.int(0, 0x7fffffff));
          const probs = policy.probs(task.id);
          const arm = mode === 'greedy' ? probs.indexOf(Math.max(...probs)) : policy.sample(task.id, rng);
          episode.step(`pull ${arm}`);
          return { arm, ...episode.score() };
        });
        heartbeat({ evaluated: task.id });
        return { taskId: task.id, attempts: attempts.map(({ arm, reward, success }) => ({ arm, reward, success })) };
      });
      const all = perTask.flatMap((t) => t.attempts);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const metrics: Record<string, number> = {
        success: mean(all.map((a) => (a.success ? 1 : 0))),
        meanReward: mean(all.map((a) => a.reward)),
      };
      if (mode === 'pass@k') metrics.passAtK = mean(perTask.map((t) => passAtK(samples, t.attempts.filter((a) => a.success).length, k)));
      const name = `${mode === 'greedy' ? 'greedy' : `pass-at-${k}`}.json`;
      const details = await putJson(deps.store, stepKey(runId, step, `eval/${split}/${name}`), perTask);
      return { metrics, episodes: all.length, details };
    },
  };
}

/** The arm a rollout pulled, or -1 when its action was malformed. */
function armOf(rollout: Rollout): number {
  const match = /^\s*pull\s+(\d+)\s*$/i.exec(rollout.actions[0] ?? '');
  return match ? Number(match[1]) : -1;
}
