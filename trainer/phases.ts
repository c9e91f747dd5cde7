/**
 * One training step of a text agent, phase by phase (DESIGN section 2), over the artifact store. Each phase
 * loads its inputs by reference (verified by sha256), does its work, writes its output under a deterministic
 * key and returns references: the Temporal activities call these, and so does the in-process trainer, so both
 * paths run the same code. Every random draw derives from (config.seed, step, ...), never from time or attempt.
 */
import type {
  CheckRewardsInput,
  CheckRewardsResult,
  ComputeAdvantagesInput,
  ComputeAdvantagesResult,
  EvaluateInput,
  PolicyRef,
  RecordStepInput,
  SelectTasksInput,
  SelectTasksResult,
  UpdatePolicyInput,
  UpdatePolicyResult,
} from '../activities/contract';
import { artifactKeys as keys } from '../common/artifact-keys';
import { type ArtifactRef, type ArtifactStore, getJson, putJson } from '../common/artifacts';
import { hashSeed } from '../common/random';
import { backendInfo, initBackend } from '../policy/backend';
import { lossTemperature } from '../policy/temperature';
import { createCurriculum, CurriculumState, filterInformativeGroups, type OffPolicyStats, recordOutcomes } from '../rl';
import { bandAt, selectTasksInBand } from '../rl/task-filter';
import { curriculumWeightingOf } from '../config/training-tasks';
import { type AppsEnvironment, createAppsEnvironment, generateAppsTasks } from '../envs/apps';
import type { DeepSearchEnvironment } from '../envs/deepsearch';
import type { SageConfig } from '../config/sage';
import type { GenerateProgress } from '../policy/generate';
import { chainRollout, verifyChains } from './chain-rollout';
import { inScenarioChains } from './chain-evaluation';
import { evaluationAttempts, type RunConfig } from '../config/run-config';
import { Advantages, computeAdvantages, trajectoriesToScore } from './advantages';
import { AgentState, disposeAgentState, initialAgentState, loadAgentState, saveAgentState } from './agent-state';
import { buildBaseModel } from './base-model';
import { textEnvironment, TextEnvName } from './environments';
import { evaluatePolicy } from './evaluate';
import { PolicyCache, publishPolicy } from './policy-bundle';
import { playerFor } from './players';
import type { LlmPolicyCache } from '../policy/llm/llm-policy';
import type { ServedPolicies } from '../policy/llm/served-policy';
import { correctStaleSamples, Scores, scoreTrajectories } from './score';
import { type ChainRef, decodeTrajectories, encodeTrajectories, type SkillRecord, Trajectory } from './trajectory';
import { ppoUpdate } from './update';

export interface PublishedPolicy extends ArtifactRef {
  version: number;
  checkpoint: ArtifactRef;
}

/** A policy reference of the text agents: one that names the checkpoint it was exported from. */
export function publishedPolicy(ref: PolicyRef): PublishedPolicy {
  if (!ref.checkpoint) throw new Error(`policy v${ref.version} has no checkpoint reference: not a text-agent policy`);
  return { ...ref, checkpoint: ref.checkpoint };
}

export interface PhaseContext {
  store: ArtifactStore;
  /** Loaded ONNX policies by hash (rollout side). */
  policies: PolicyCache;
  /** Loaded LLM policy versions by hash (rollout side of `agent.policy.kind: llm`), made on first use. */
  llmPolicies?: LlmPolicyCache;
  /** LLM versions served by inference servers (`agent.policy.rollout.engine: openai`), made on first use. */
  servedPolicies?: ServedPolicies;
  /** Trainer states by checkpoint hash (update side): the last one stays in memory between steps. */
  states: Map<string, Promise<AgentState>>;
  /** Called often during long work (activities heartbeat and notice cancellation here). */
  heartbeat?: (details?: unknown) => void;
}

export function envOf(config: RunConfig) {
  return textEnvironment(config.env as TextEnvName, { apps: config.apps, deepsearch: config.deepsearch });
}

/** The worlds the base policy's demonstrations come from: the run's own, then `base.demoWorlds - 1` more seeds. */
export function demonstrationWorlds(config: RunConfig) {
  return Array.from({ length: config.agent.base.demoWorlds }, (_, k) =>
    textEnvironment(config.env as TextEnvName, {
      apps: { ...config.apps, seed: config.apps.seed + k },
      deepsearch: { ...config.deepsearch, seed: config.deepsearch.seed + k },
    }),
  );
}

const needsCritic = (config: RunConfig) => config.algorithm === 'ppo';
// Whatever the config's coefficient: `setHyperparameters` or the adaptive controller may raise it from 0.
const needsReference = (config: RunConfig) => config.agent.kl.mode !== 'none';

async function stateFor(ctx: PhaseContext, ref: ArtifactRef): Promise<AgentState> {
  let entry = ctx.states.get(ref.sha256);
  if (!entry) {
    entry = loadAgentState(ctx.store, ref);
    entry.catch(() => ctx.states.delete(ref.sha256));
    ctx.states.set(ref.sha256, entry);
  }
  return entry;
}

/**
 * Keep only the given checkpoints' states in memory (the policy being trained and the frozen reference). The
 * others' tensors are freed: tfjs keeps every variable until it is disposed, so a dropped state would otherwise
 * stay in the backend's heap for good (a state a step in the bench; the gpu worker runs one activity at a time).
 */
function retainStates(ctx: PhaseContext, keep: string[]): void {
  for (const [sha, entry] of [...ctx.states]) {
    if (keep.includes(sha)) continue;
    ctx.states.delete(sha);
    void entry.then(disposeAgentState, () => undefined);
  }
}

/** Cache a state under its checkpoint's hash; one it replaces (a retried update gives the same bytes) is freed. */
function cacheState(ctx: PhaseContext, sha: string, state: AgentState): void {
  const replaced = ctx.states.get(sha);
  ctx.states.set(sha, Promise.resolve(state));
  void replaced?.then((old) => old !== state && disposeAgentState(old), () => undefined);
}

/** Free every state and loaded policy the context holds (a finished in-process run). */
export async function releaseContext(ctx: PhaseContext): Promise<void> {
  retainStates(ctx, []);
  await ctx.policies.clear();
  await ctx.llmPolicies?.clear();
}

/** Version 0: the base policy (given, or built by SFT on expert demonstrations), checkpointed and published. */
export async function initPolicyPhase(ctx: PhaseContext, runId: string, config: RunConfig): Promise<PublishedPolicy & { sft?: Record<string, number> }> {
  await initBackend({ quiet: true });
  let state: AgentState;
  let sft: Record<string, number> | undefined;
  if (config.agent.base.checkpoint) {
    state = await loadAgentState(ctx.store, config.agent.base.checkpoint);
    state.step = 0;
  } else {
    const base = await buildBaseModel(demonstrationWorlds(config), config.agent, {
      split: config.split,
      seed: config.seed,
      onStep: (step, loss) => ctx.heartbeat?.({ phase: 'sft', step, loss }),
    });
    sft = { demos: base.sft.demos, expertSuccess: base.sft.expertSuccess, heldOutAccuracy: base.sft.heldOutAccuracy, finalLoss: base.sft.finalLoss };
    state = initialAgentState(base.tokenizer, base.policy, { withCritic: false, seed: config.seed });
  }
  if (needsCritic(config) && !state.critic) {
    state.policyOptimizer.dispose(); // the state with a critic brings fresh optimizers
    state = initialAgentState(state.tokenizer, state.policy, { withCritic: true, seed: config.seed });
  }
  const checkpoint = await saveAgentState(ctx.store, keys.checkpoint(runId, 0), state);
  const policy = await publishPolicy(ctx.store, keys.policy(runId, 0), state.policy, state.tokenizer);
  cacheState(ctx, checkpoint.sha256, state);
  return { version: 0, key: policy.key, sha256: policy.sha256, checkpoint: { key: checkpoint.key, sha256: checkpoint.sha256 }, sft };
}

/** One task's outcome in a recorded step, as the curriculum learns from it. */
export interface TaskOutcome {
  step: number;
  taskId: string;
  success: boolean;
}

/**
 * The step's tasks, drawn by the curriculum. Round 0 adds the previous step's outcomes to the state that step
 * selected with and stores the result as this step's state (a reference the loop carries to the next step);
 * refill rounds draw from this step's state, leaving out the tasks already drawn. A run whose loop carries no
 * state yet (one recorded before it did) replays its whole history once, through `history`.
 */
export async function selectTasksPhase(
  ctx: PhaseContext,
  input: SelectTasksInput,
  history: () => Promise<TaskOutcome[]>,
): Promise<SelectTasksResult & { sampler: ArtifactRef }> {
  const { runId, step, config, round } = input;
  let state: CurriculumState;
  let sampler = input.sampler;
  if (round > 0) {
    if (!sampler) throw new Error(`selectTasks: refill round ${round} of step ${step} needs the step's sampler state`);
    state = await getJson<CurriculumState>(ctx.store, sampler);
  } else {
    state = input.sampler ? await getJson<CurriculumState>(ctx.store, input.sampler) : replayCurriculum(config, step, step > 0 ? await history() : []);
    if (input.outcomes) state = recordOutcomes(state, (await getJson<RewardRow[]>(ctx.store, input.outcomes)).map(outcomeOf));
    state = withBand(config, step, state);
    sampler = await putJson(ctx.store, keys.step(runId, step, 'curriculum.json'), state);
  }
  const taskIds = selectTasksInBand(withoutTasks(state, input.exclude), input.count, hashSeed(`${config.seed}/tasks/${step}${round > 0 ? `/refill-${round}` : ''}`));
  return { taskIds, sampler };
}

/** The curriculum's state before step `step`, replayed from every earlier step's outcomes (and band refreshes). */
function replayCurriculum(config: RunConfig, step: number, history: TaskOutcome[]): CurriculumState {
  let curriculum = createCurriculum(trainingPool(config), config.curriculum.window, curriculumWeightingOf(config.curriculum));
  for (let s = 0; s < step; s++) curriculum = recordOutcomes(withBand(config, s, curriculum), history.filter((h) => h.step === s).map(outcomeOf));
  return curriculum;
}

/**
 * The tasks a run trains on: its training split, or the kept tasks of its generated stream (made here, from the
 * seed). A deepsearch stream asks chains of the training split's hop counts (single-hop: 1; multi-hop: 2-4).
 */
function trainingPool(config: RunConfig): string[] {
  const env = envOf(config);
  if (config.tasks.source === 'fixed') return env.tasks(config.split).map((t) => t.id);
  const { seed, pool } = config.tasks;
  if (config.env === 'apps') return generateAppsTasks(config.apps.seed, { seed, count: pool }).tasks.map((t) => t.info.id);
  const hops = [...new Set(env.tasks(config.split).map((t) => t.level))];
  return (env as DeepSearchEnvironment).syntheticTasks(seed, pool, hops).map((t) => t.id);
}

/** A generated stream's state carries its pass-rate band, refreshed every `tasks.refreshEvery` steps. */
function withBand(config: RunConfig, step: number, state: CurriculumState): CurriculumState {
  if (config.tasks.source !== 'synthetic') return state;
  return { ...state, band: bandAt(state.history, step, state.band, config.tasks) };
}

const outcomeOf = (row: { taskId: string; success: boolean }) => ({ taskId: row.taskId, success: row.success ? 1 : 0 });

function withoutTasks(state: CurriculumState, exclude: readonly string[]): CurriculumState {
  if (!exclude.length) return state;
  const drawn = new Set(exclude);
  return { ...state, history: Object.fromEntries(Object.entries(state.history).filter(([id]) => !drawn.has(id))) };
}

export async function rolloutPhase(
  ctx: PhaseContext,
  input: { runId: string; step: number; config: RunConfig; shard: number; taskIds: string[]; firstGroup: number; policy: { version: number; key: string; sha256: string } },
): Promise<{ rollouts: ArtifactRef; trajectories: number }> {
  const { runId, step, config, shard } = input;
  const play = await playerFor(ctx, config, input.policy, { runId, step, batch: `s${step}` });
  const specs = input.taskIds.flatMap((taskId, offset) =>
    Array.from({ length: config.groupSize }, (_, sample) => ({
      taskId,
      group: input.firstGroup + offset,
      sample,
      seed: hashSeed(`${config.seed}/rollout/${step}/${taskId}/${sample}`),
    })),
  );
  const opts = {
    ...config.agent.sampling,
    policyVersion: input.policy.version,
    onTurn: (turn: number, running: number) => ctx.heartbeat?.({ shard, turn, running }),
    onProgress: (progress: GenerateProgress) => ctx.heartbeat?.({ shard, ...progress }),
  };
  // SAGE: each drawn task heads a chain of its scenario, played in order with one skill library per chain.
  const trajectories = config.sage
    ? await chainRollout(createAppsEnvironment(config.apps), play, specs, { ...opts, ...sageChains(config, config.sage) })
    : await play(envOf(config), specs, opts);
  const ref = await ctx.store.put(keys.rolloutShard(runId, step, shard), encodeTrajectories(trajectories));
  return { rollouts: { key: ref.key, sha256: ref.sha256 }, trajectories: trajectories.length };
}

/** The chain settings of a SAGE run: chains are built over its training pool. */
function sageChains(config: RunConfig, sage: SageConfig) {
  return { pool: trainingPool(config), chainLength: sage.chainLength, weights: sageWeights(sage) };
}

const sageWeights = (sage: SageConfig) => ({ skillGeneration: sage.skillGeneration, skillUse: sage.skillUse });

export async function loadTrajectories(store: ArtifactStore, refs: ArtifactRef[]): Promise<Trajectory[]> {
  const shards = await Promise.all(refs.map(async (ref) => decodeTrajectories(await store.get(ref.key, ref.sha256))));
  return shards.flat().sort((a, b) => a.group - b.group || a.sample - b.sample);
}

export interface RewardRow {
  /** The rollout artifact (shard) the trajectory is stored in. */
  shard: ArtifactRef;
  taskId: string;
  group: number;
  sample: number;
  reward: number;
  success: boolean;
  turns: number;
  tokens: number;
  finishReason: string;
  envErrors: number;
  metrics: Record<string, number>;
  /** SAGE steps: the trajectory's chain, and the skills it wrote and used (trainer/chain-rollout.ts). */
  chain?: ChainRef;
  skills?: SkillRecord;
}

/**
 * The verifier replays each trajectory's actions in a fresh episode and scores the final state. A refill round
 * verifies its own rollouts and adds them to the earlier rounds' rewards, under a key of its own.
 */
export async function checkRewardsPhase(ctx: PhaseContext, input: CheckRewardsInput): Promise<CheckRewardsResult & { rows: RewardRow[] }> {
  const { runId, step, config, round } = input;
  const env = envOf(config);
  const shards = await Promise.all(input.rollouts.map(async (ref) => ({ ref, trajectories: decodeTrajectories(await ctx.store.get(ref.key, ref.sha256)) })));
  const inOrder = shards.flatMap(({ ref, trajectories }) => trajectories.map((t) => ({ t, shard: { key: ref.key, sha256: ref.sha256 } })));
  inOrder.sort((a, b) => a.t.group - b.t.group || a.t.sample - b.t.sample);
  // SAGE: chains replay in order, each from its own library, and earn the skill-integrated reward.
  const chains = config.sage
    ? verifyChains(createAppsEnvironment(config.apps), inOrder.map(({ t }) => t), { maxTurns: config.agent.sampling.maxTurns, weights: sageWeights(config.sage) })
    : undefined;
  // Gateway episodes with `reward: agent`: the agent's environment is its own, so its posted reward stands.
  const rollout = config.agent.policy.kind === 'llm' ? config.agent.policy.rollout : undefined;
  const agentScored = rollout?.engine === 'gateway' && rollout.reward === 'agent';
  const verified: RewardRow[] = inOrder.map(({ t, shard }, i) => {
    if (agentScored) return rewardRow(t, shard, { reward: t.reward, success: t.success, metrics: t.metrics }, t.finishReason);
    const chain = chains?.[i];
    const episode = chain?.episode ?? env.createEpisode(t.taskId, t.seed, { maxTurns: config.agent.sampling.maxTurns });
    if (!chain) for (const turn of t.turns) episode.step(turn.action);
    const score = chain ? { ...episode.score(), reward: chain.reward, metrics: chain.metrics } : episode.score();
    if (rollout?.engine === 'gateway') score.metrics = { ...score.metrics, agent_reward: t.reward }; // what the agent's own verifier said
    return { ...(chain ? { chain: t.chain, skills: chain.skills } : {}), ...rewardRow(t, shard, score, episode.finishReason) };
  });
  const rows = [...(input.previous ? await getJson<RewardRow[]>(ctx.store, input.previous) : []), ...verified];
  const rewards = await putJson(ctx.store, keys.step(runId, step, round > 0 ? `rewards-round-${round}.json` : 'rewards.json'), rows);
  return { rewards, rows, ...rewardSummary(rows) };
}

function rewardRow(t: Trajectory, shard: ArtifactRef, score: { reward: number; success: boolean; metrics: Record<string, number> }, finishReason: string): RewardRow {
  return {
    shard,
    taskId: t.taskId,
    group: t.group,
    sample: t.sample,
    reward: score.reward,
    success: score.success,
    turns: t.turns.length,
    tokens: t.turns.reduce((n, turn) => n + turn.actionTokens.length, 0),
    finishReason,
    envErrors: t.turns.filter((turn) => turn.error).length,
    metrics: score.metrics,
  };
}

/** Mean reward and success over the rows, and how many of their groups have rewards that differ. */
function rewardSummary(rows: readonly { group: number; reward: number; success: boolean }[]) {
  const n = Math.max(1, rows.length);
  const groups = rows.map((r) => r.group);
  return {
    meanReward: rows.reduce((s, r) => s + r.reward, 0) / n,
    successRate: rows.filter((r) => r.success).length / n,
    groups: new Set(groups).size,
    informativeGroups: filterInformativeGroups(rows.map((r) => r.reward), groups).keptGroups.length,
  };
}

/** Trajectories with the verified rewards in place of the sampler's. */
async function verifiedTrajectories(store: ArtifactStore, rollouts: ArtifactRef[], rewards: ArtifactRef): Promise<Trajectory[]> {
  const rows = await getJson<RewardRow[]>(store, rewards);
  const byKey = new Map(rows.map((r) => [`${r.group}/${r.sample}`, r]));
  return (await loadTrajectories(store, rollouts)).map((t) => {
    const row = byKey.get(`${t.group}/${t.sample}`);
    if (!row) throw new Error(`no verified reward for trajectory ${t.group}/${t.sample}`);
    return { ...t, reward: row.reward, success: row.success };
  });
}

export async function scorePhase(
  ctx: PhaseContext,
  input: { runId: string; step: number; config: RunConfig; rollouts: ArtifactRef[]; rewards?: ArtifactRef; policy: PublishedPolicy; reference: ArtifactRef },
): Promise<{ scores: ArtifactRef; entropy: number; offPolicy?: OffPolicyStats }> {
  await initBackend({ quiet: true });
  const state = await stateFor(ctx, input.policy.checkpoint);
  const reference = needsReference(input.config) ? await stateFor(ctx, input.reference) : undefined;
  // With the verified rewards known, score only what the update will train on.
  const trajectories = input.rewards
    ? await verifiedTrajectories(ctx.store, input.rollouts, input.rewards)
    : await loadTrajectories(ctx.store, input.rollouts);
  const only = input.rewards ? trajectoriesToScore(input.config.algorithm, trajectories, input.config.agent) : undefined;
  const scores = await scoreTrajectories({ policy: state.policy, reference: reference?.policy, critic: state.critic }, trajectories, {
    only: only && only.length < trajectories.length ? only : undefined,
    temperature: lossTemperature(input.config.agent.sampling.temperature),
    onProgress: (done, total) => ctx.heartbeat?.({ phase: 'score', done, total }),
  });
  const { maxStaleness, importanceCap: cap } = input.config.async;
  const corrected = correctStaleSamples(trajectories, scores, { version: input.policy.version, maxStaleness, cap });
  const ref = await putJson(ctx.store, keys.step(input.runId, input.step, 'scores.json'), corrected.scores);
  return { scores: ref, entropy: scores.entropy, ...(corrected.offPolicy ? { offPolicy: corrected.offPolicy } : {}) };
}

export async function advantagesPhase(ctx: PhaseContext, input: ComputeAdvantagesInput): Promise<ComputeAdvantagesResult> {
  const { config } = input;
  if (config.algorithm === 'reinforce') throw new Error('text agents use reinforce_pp, not reinforce');
  const trajectories = await verifiedTrajectories(ctx.store, input.rollouts, input.rewards);
  const scores = await getJson<Scores>(ctx.store, input.scores);
  const advantages = computeAdvantages(config.algorithm, trajectories, scores, withKlCoef(config, input.klCoef));
  const ref = await putJson(ctx.store, keys.step(input.runId, input.step, 'advantages.json'), advantages);
  return { advantages: ref, flatGroups: advantages.flatGroups, meanKl: advantages.meanKl };
}

/** The agent's settings with the step's live KL coefficient in place of the config's. */
const withKlCoef = (config: RunConfig, coef: number) => ({ ...config.agent, kl: { ...config.agent.kl, coef } });

/** PPO epochs on the step's batch, then checkpoint version v+1 (deterministic bytes for the same inputs). */
export async function updatePhase(
  ctx: PhaseContext,
  input: Omit<UpdatePolicyInput, 'policy'> & { policy: PublishedPolicy; reference: ArtifactRef },
): Promise<UpdatePolicyResult & { checkpoint: { step: number } }> {
  await initBackend({ quiet: true });
  const { config, runId, step } = input;
  const version = input.policy.version + 1;
  const key = keys.checkpoint(runId, version);
  // The same inputs always produce the same checkpoint; train into a fresh copy so a retry starts clean.
  const state = await loadAgentState(ctx.store, input.policy.checkpoint);
  const trajectories = await loadTrajectories(ctx.store, input.rollouts);
  const scores = await getJson<Scores>(ctx.store, input.scores);
  const advantages = await getJson<Advantages>(ctx.store, input.advantages);
  const metrics = await ppoUpdate(state, trajectories, scores, advantages, {
    settings: withKlCoef(config, input.klCoef),
    learningRate: input.learningRate,
    seed: hashSeed(`${config.seed}/update/${step}`),
    onProgress: (done, total) => ctx.heartbeat?.({ phase: 'update', done, total }),
  });
  state.step = step + 1;
  const ref = await saveAgentState(ctx.store, key, state);
  cacheState(ctx, ref.sha256, state);
  retainStates(ctx, [ref.sha256, input.reference.sha256]);
  return { checkpoint: { key: ref.key, sha256: ref.sha256, version, step: step + 1 }, kl: metrics.ppoKl, metrics: { ...metrics, backend: backendInfo().backend } };
}

/** Weight sync: export checkpoint v to ONNX and publish it as policy version v. */
export async function syncPhase(ctx: PhaseContext, runId: string, checkpoint: ArtifactRef & { version: number }): Promise<PublishedPolicy> {
  await initBackend({ quiet: true });
  const state = await stateFor(ctx, checkpoint);
  const ref = await publishPolicy(ctx.store, keys.policy(runId, checkpoint.version), state.policy, state.tokenizer);
  return { version: checkpoint.version, key: ref.key, sha256: ref.sha256, checkpoint: { key: checkpoint.key, sha256: checkpoint.sha256 } };
}

/** One trajectory's row, as Postgres (or the in-process trainer's memory) records it. */
export interface TrajectoryRecord {
  step: number;
  group: number;
  sample: number;
  taskId: string;
  policyVersion: number;
  reward: number;
  success: boolean;
  turns: number;
  tokens: number;
  finishReason: string;
  envErrors: number;
  artifactKey: string;
  artifactSha256: string;
  /** SAGE steps only, null otherwise (db columns chain_id ... skills_used, nullable). */
  chainId: string | null;
  chainPosition: number | null;
  skillsWritten: string[] | null;
  skillsUsed: string[] | null;
}

/** A SAGE reward row's chain and skills as trajectory-row columns; nulls for other rows (what the database holds). */
function chainColumns(row: RewardRow): Pick<TrajectoryRecord, 'chainId' | 'chainPosition' | 'skillsWritten' | 'skillsUsed'> {
  if (!row.chain) return { chainId: null, chainPosition: null, skillsWritten: null, skillsUsed: null };
  return { chainId: row.chain.id, chainPosition: row.chain.position, skillsWritten: row.skills?.written ?? [], skillsUsed: row.skills?.used ?? [] };
}

/** What recordStep writes: a row per trajectory, and the step's metrics with what only the rows can tell. */
export async function recordPhase(ctx: PhaseContext, input: RecordStepInput) {
  const { step, policyVersion } = input;
  const { update, logProbMismatch, offPolicy, ...metrics } = input.metrics;
  const rows = await getJson<RewardRow[]>(ctx.store, input.rewards);
  const trajectories: TrajectoryRecord[] = rows.map((r) => ({
    step,
    group: r.group,
    sample: r.sample,
    taskId: r.taskId,
    policyVersion,
    reward: r.reward,
    success: r.success,
    turns: r.turns,
    tokens: r.tokens,
    finishReason: r.finishReason,
    envErrors: r.envErrors,
    artifactKey: r.shard.key,
    artifactSha256: r.shard.sha256,
    ...chainColumns(r),
  }));
  const tokens = rows.reduce((n, r) => n + r.tokens, 0);
  return {
    trajectories,
    tokens,
    metrics: {
      ...metrics,
      ...update,
      ...(logProbMismatch ? { logProbMismatch: logProbMismatch.mean, logProbMismatchMax: logProbMismatch.max, logProbMismatchTokens: logProbMismatch.tokens } : {}),
      ...(offPolicy ? { staleness: offPolicy.staleness, staleDropped: offPolicy.droppedTrajectories, importanceCapped: offPolicy.cappedTokens, importanceWeight: offPolicy.meanWeight } : {}),
      meanTurns: rows.reduce((n, r) => n + r.turns, 0) / Math.max(1, rows.length),
      meanTokens: tokens / Math.max(1, rows.length),
      rolloutTokensPerSecond: metrics.wallMs > 0 ? tokens / (metrics.wallMs / 1000) : 0,
    } as Record<string, unknown>,
  };
}

export async function evaluatePhase(
  ctx: PhaseContext,
  input: EvaluateInput,
) {
  const env = envOf(input.config);
  const all = env.tasks(input.split);
  const tasks = input.tasks > 0 ? all.slice(0, input.tasks) : all;
  const player = await playerFor(ctx, input.config, input.policy, { runId: input.runId, step: input.step, batch: `e${input.step}.${input.split}.${input.mode}` });
  const outcome = await evaluatePolicy(
    env,
    input.config.evaluation.chains ? inScenarioChains(env as AppsEnvironment, player) : player,
    tasks,
    {
      mode: input.mode,
      k: input.k,
      n: evaluationAttempts(input.config.evaluation, input.mode, input.k),
      sampling: input.config.agent.sampling,
      seed: input.config.seed,
      policyVersion: input.policy.version,
    },
    () => ctx.heartbeat?.({ phase: 'evaluate' }),
  );
  const details = await putJson(ctx.store, keys.evaluation(input.runId, input.step, input.split, input.mode), outcome);
  return { metrics: outcome.metrics, episodes: outcome.trajectories.length, details };
}
