/**
 * A run's episodes through the gateway (serve/gateway-work.ts, policy/llm/gateway-rollout.ts): the board hands out
 * the oldest open episode, a silent claim lapses and the lapsed attempt is refused; and a rollout on a real gateway
 * in front of a real `ratchet serve` (two tiny built-in versions) waits while an agent (here, plain HTTP calls)
 * claims and plays its episodes, gets them back numbered as the run numbers them, and gets the same ones again when
 * retried against a restarted gateway with no agent at all. A version the upstream does not serve fails at once.
 */
import { join } from 'node:path';
import { appsChatPrompt } from '../../../envs/apps/chat-prompt';
import type { Environment } from '../../../envs/types';
import { gatewayRollout, type GatewayRollout } from '../../../policy/llm/gateway-rollout';
import { startGateway, type RunningGateway } from '../../../serve/gateway';
import { WorkBoard, type WorkItem } from '../../../serve/gateway-work';
import type { RolloutOptions, RolloutSpec } from '../../../trainer/rollout';
import type { Trajectory } from '../../../trainer/trajectory';
import { serveTinyVersions, tokenizer, type TinyServe } from '../serve/tiny-versions';

const RUN = 'gw-work';

const item = (id: string, version = 0): WorkItem => ({
  id,
  model: `${RUN}@v${version}`,
  version,
  task: { env: 'apps', id: `apps/train/${id}`, seed: 7 },
  sampling: { temperature: 1, top_p: 1, max_tokens: 4 },
});

describe('WorkBoard', () => {
  test('claims go oldest first; a silent claim lapses, and its attempt is refused after the episode is handed out again', () => {
    let now = 0;
    const board = new WorkBoard(1000, () => now);
    expect(board.put([item('a'), item('b')]).map((s) => s.status)).toEqual(['open', 'open']);
    const a1 = board.claim()!;
    expect(a1.item.id).toBe('a');
    expect(board.claim()!.item.id).toBe('b');
    expect(board.claim()).toBeUndefined();
    now = 900;
    expect(board.assignment(a1.episode)).toEqual(item('a')); // a call: the claim shows life
    now = 1800;
    expect(board.claim()!.item.id).toBe('b'); // b has been silent for 1800 ms; a only for 900
    now = 3000;
    const a2 = board.claim()!;
    expect(a2.item.id).toBe('a');
    expect(a2.episode).not.toBe(a1.episode);
    expect(() => board.assignment(a1.episode)).toThrow(/lapsed/);
    expect(board.assignment('a free episode')).toBeUndefined();
    expect(() => board.assignment('zz:abc123-1')).toThrow(/not one this gateway handed out/);
    board.finish(a2.episode, { reward: 1 } as Trajectory);
    expect(board.put([item('a')])).toEqual([{ id: 'a', status: 'done', claims: 2, trajectory: { reward: 1 } }]);
    expect(() => board.put([item('a', 1)])).toThrow(/other settings/);
  });
});

describe('a rollout through the gateway', () => {
  let upstream: TinyServe;
  let gateway: RunningGateway;
  const out = () => join(upstream.dir, 'episodes.jsonl');
  const settings = (): GatewayRollout => ({ engine: 'gateway', url: `${gateway.url}/v1`, reward: 'verifier', idleTimeoutMs: 60_000 });
  const env = { name: 'apps' } as Environment;
  const specs: RolloutSpec[] = [
    { taskId: 'apps/train/0001', group: 0, sample: 0, seed: 11 },
    { taskId: 'apps/train/0001', group: 0, sample: 1, seed: 12 },
    { taskId: 'apps/train/0002', group: 1, sample: 0, seed: 13 },
  ];
  const opts: RolloutOptions = { temperature: 1, topP: 1, maxActionTokens: 5, maxTurns: 2, policyVersion: 1 };
  const batch = { prefix: `${RUN}.s3`, model: `${RUN}@v1`, chatPrompt: appsChatPrompt, atRunStart: false };

  beforeAll(async () => {
    upstream = await serveTinyVersions(RUN);
    gateway = await startGateway({ upstream: `${upstream.server.url}/v1`, out: out(), claimTimeoutMs: 300, port: 0 });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const api = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });

  /** An agent: claim, two completions calls seeded by the episode's seed, then the reward (unless it "dies" first). */
  async function agent(opts: { dieAfterOneCall?: boolean } = {}): Promise<string | undefined> {
    const claim = await api('/episodes');
    if (claim.status === 204) return undefined;
    expect(claim.status).toBe(200);
    const { episode, task } = (await claim.json()) as WorkItem & { episode: string };
    for (let turn = 0; turn < 2; turn++) {
      const reply = await api('/completions', { model: 'x', prompt: `GET /users/${turn}`, max_tokens: 5, temperature: 1, seed: task.seed + turn }, { 'x-ratchet-episode': episode });
      expect(reply.status).toBe(200);
      if (opts.dieAfterOneCall) return episode;
    }
    expect((await api(`/episodes/${episode}/reward`, { reward: task.seed / 100, success: true })).status).toBe(200);
    return episode;
  }

  test('the agent plays the episodes; a killed attempt is replayed and its late reward refused; a retry gets the same episodes', async () => {
    const rollout = gatewayRollout(settings(), batch);
    const rolled = rollout(env, specs, opts);
    // Wait for the rollout to put its episodes, then play: the first claim dies after one call.
    let dead: string | undefined;
    while (!(dead = await agent({ dieAfterOneCall: true }))) await new Promise((r) => setTimeout(r, 100));
    // The other two, then the dead one's again once its claim has lapsed (300 ms without a call).
    const played: string[] = [];
    for (let tries = 0; played.length < 3 && tries < 100; tries++) {
      const episode = await agent();
      if (episode) played.push(episode);
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(played).toHaveLength(3);
    expect(played.filter((e) => e.split(':')[0] === dead!.split(':')[0])).toHaveLength(1);
    expect((await api(`/episodes/${dead}/reward`, { reward: 1 })).status).toBe(409);
    const trajectories = await rolled;

    expect(trajectories.map((t) => [t.taskId, t.group, t.sample, t.seed, t.policyVersion, t.reward])).toEqual(specs.map((s) => [s.taskId, s.group, s.sample, s.seed, 1, s.seed / 100]));
    for (const [i, t] of trajectories.entries()) {
      expect(t.turns).toHaveLength(2);
      expect(t.metrics.agent_reward).toBe(specs[i].seed / 100);
      for (const [turn, record] of t.turns.entries()) {
        const prompt = [tokenizer.bos, ...tokenizer.encode(`GET /users/${turn}`)];
        const [expected] = await upstream.versions[1].policy.generate([prompt], { temperature: 1, topP: 1, maxTokens: 5, seed: specs[i].seed + turn, stopTokens: [tokenizer.eos] }, tokenizer);
        expect(record).toMatchObject({ promptTokens: prompt, actionTokens: expected.tokens, sampleLogProbs: expected.logProbs });
      }
    }

    // A retried rollout, against a restarted gateway (its JSONL read back), with no agent: the same episodes.
    await gateway.close();
    gateway = await startGateway({ upstream: `${upstream.server.url}/v1`, out: out(), claimTimeoutMs: 300, port: 0 });
    expect(await gatewayRollout(settings(), batch)(env, specs, opts)).toEqual(trajectories);
  }, 60_000);

  test('a version the upstream does not serve fails the rollout at once as InvalidRunConfig', async () => {
    const failure = await gatewayRollout(settings(), { ...batch, model: `${RUN}@v9` })(env, specs, opts).catch((err: Error) => err);
    expect(failure).toMatchObject({ name: 'InvalidRunConfig', message: expect.stringMatching(/does not serve "gw-work@v9"/) });
  });

  test('an unreachable gateway is a configuration error at the run start, and an ordinary one later', async () => {
    const nowhere = { ...settings(), url: 'http://127.0.0.1:9/v1' };
    expect(await gatewayRollout(nowhere, { ...batch, atRunStart: true })(env, specs, opts).catch((err: Error) => err.name)).toBe('InvalidRunConfig');
    expect(await gatewayRollout(nowhere, batch)(env, specs, opts).catch((err: Error) => err.name)).toBe('Error');
  });
});
