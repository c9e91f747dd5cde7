/**
 * The gateway (serve/gateway.ts) in process on a real port, in front of a real `ratchet serve` (serve/server.ts) over
 * two versions of a tiny built-in policy: completions calls of one episode are recorded with the IDs and log-probs
 * the upstream returned (equal to the in-process engine's for the prompt and seed), the reward closes the episode
 * into a trajectory row (and a JSONL line), moving the policy moves where calls go, and what cannot be recorded is
 * refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../../../serve/gateway';
import type { Trajectory } from '../../../trainer/trajectory';
import { serveTinyVersions, tokenizer, type TinyServe } from '../serve/tiny-versions';

const RUN = 'gw-unit';

let upstream: TinyServe;
let gateway: RunningGateway;
let dir: string;
let versions: TinyServe['versions'];

beforeAll(async () => {
  upstream = await serveTinyVersions(RUN);
  ({ dir, versions } = upstream);
  gateway = await startGateway({ upstream: `${upstream.server.url}/v1`, policy: { model: `${RUN}@v0`, version: 0 }, out: join(dir, 'episodes.jsonl'), port: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(async (r) => ({
    status: r.status,
    json: (await r.json()) as any,
  }));

test('an episode of completions calls becomes a trajectory with the upstream tokens and log-probs', async () => {
  const episode = { 'x-ratchet-episode': 'e1', 'x-ratchet-task': 'apps/train/0001' };
  const calls = [
    { prompt: 'GET /', seed: 3 },
    { prompt: 'POST /orders', seed: 4 },
  ];
  for (const [i, call] of calls.entries()) {
    // The agent's model name is replaced by the current version's; T = 0.8 so the log-probs are the sampler's.
    const { status, json } = await post('/completions', { model: 'anything', prompt: call.prompt, max_tokens: 6, temperature: 0.8, seed: call.seed }, episode);
    expect(status).toBe(200);
    expect(json.model).toBe(`${RUN}@v0`);
    const prompt = [tokenizer.bos, ...tokenizer.encode(call.prompt)];
    const [expected] = await versions[0].policy.generate([prompt], { temperature: 0.8, topP: 1, maxTokens: 6, seed: call.seed, stopTokens: [tokenizer.eos] }, tokenizer);
    expect(json.choices[0].token_ids).toEqual(expected.tokens);
    const recorded = gateway.episodes.get('e1').trajectory;
    expect(recorded).toBeNull();
    const open = (await fetch(`${gateway.url}/v1/episodes/e1`).then((r) => r.json())) as { status: string; turns: number };
    expect(open).toMatchObject({ status: 'open', turns: i + 1 });
  }
  const { status, json } = await post('/episodes/e1/reward', { reward: 0.75, seed: 9, metrics: { em: 1 } });
  expect(status).toBe(200);
  const trajectory = json as Trajectory;
  expect(trajectory).toMatchObject({ taskId: 'apps/train/0001', policyVersion: 0, reward: 0.75, success: true, seed: 9, finishReason: 'completed', metrics: { em: 1, stale_turns: 0 } });
  for (const [t, turn] of trajectory.turns.entries()) {
    const prompt = [tokenizer.bos, ...tokenizer.encode(calls[t].prompt)];
    const [expected] = await versions[0].policy.generate([prompt], { temperature: 0.8, topP: 1, maxTokens: 6, seed: calls[t].seed, stopTokens: [tokenizer.eos] }, tokenizer);
    expect(turn).toMatchObject({ context: calls[t].prompt, promptTokens: prompt, actionTokens: expected.tokens, sampleLogProbs: expected.logProbs, observation: '' });
  }
  expect(trajectory.turns[0].nextContext).toBe(calls[1].prompt);
  const line = JSON.parse(readFileSync(join(dir, 'episodes.jsonl'), 'utf8').trim());
  expect(line).toEqual({ episodeId: 'e1', ...trajectory });
});

test('moving the policy sends calls to the new version, and a turn of a newer version is counted stale', async () => {
  const headers = { 'x-ratchet-episode': 'e2' };
  const body = { prompt: 'GET /', max_tokens: 6, temperature: 1, seed: 5 };
  expect((await post('/completions', body, headers)).status).toBe(200);
  expect((await post('/gateway/policy', { model: `${RUN}@v1` })).json).toEqual({ model: `${RUN}@v1`, version: 1 });
  const { json } = await post('/completions', body, headers);
  const prompt = [tokenizer.bos, ...tokenizer.encode('GET /')];
  const [expected] = await versions[1].policy.generate([prompt], { temperature: 1, topP: 1, maxTokens: 6, seed: 5, stopTokens: [tokenizer.eos] }, tokenizer);
  expect(json.choices[0].token_ids).toEqual(expected.tokens);
  const trajectory = (await post('/episodes/e2/reward', { reward: 0 })).json as Trajectory;
  expect(trajectory).toMatchObject({ taskId: 'e2', policyVersion: 0, success: false, metrics: { stale_turns: 1 } });
  expect(trajectory.turns[1].sampleLogProbs).toEqual(expected.logProbs);
  expect((await post('/gateway/policy', { model: RUN })).status).toBe(400); // no version in the name, none given
});

test('calls it cannot record are refused, with OpenAI-style errors; upstream errors pass through', async () => {
  const body = { prompt: 'GET /', max_tokens: 2 };
  expect((await post('/completions', body)).json.error.message).toMatch(/x-ratchet-episode/);
  expect((await post('/completions', body, { 'x-ratchet-episode': 'bad id!' })).status).toBe(400);
  expect((await post('/completions', { ...body, n: 2 }, { 'x-ratchet-episode': 'e3' })).status).toBe(400);
  expect((await post('/completions', { ...body, prompt: ['a', 'b'] }, { 'x-ratchet-episode': 'e3' })).status).toBe(400);
  expect((await post('/completions', { ...body, stream: true }, { 'x-ratchet-episode': 'e3' })).status).toBe(400);
  const upstreamError = await post('/completions', { ...body, temperature: -1 }, { 'x-ratchet-episode': 'e3' });
  expect(upstreamError).toMatchObject({ status: 400, json: { error: { param: 'temperature' } } });
  expect((await post('/episodes/e3/reward', { reward: 1 })).status).toBe(404); // no call recorded
  expect((await post('/episodes/e1/reward', { reward: 1 })).status).toBe(409);
  expect((await post('/completions', body, { 'x-ratchet-episode': 'e1' })).status).toBe(409);
  expect((await post('/episodes/e3/reward', { reward: 'x' })).status).toBe(400);
  const list = (await fetch(`${gateway.url}/v1/episodes`).then((r) => r.json())) as { data: { id: string; status: string }[] };
  expect(list.data.map((e) => [e.id, e.status])).toEqual([
    ['e1', 'done'],
    ['e2', 'done'],
  ]);
});
