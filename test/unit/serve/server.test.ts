/**
 * `ratchet serve` in process on a real port (serve/server.ts), over two versions of a tiny built-in policy in a
 * local artifact store: vLLM's response format, the sampled IDs and log-probs equal to the in-process engine's
 * (the same seed and options), greedy decoding, stops, n choices, the LoRA endpoints' vLLM semantics, and errors
 * as OpenAI-style JSON with the right status.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactKeys } from '../../../common/artifact-keys';
import { LocalArtifactStore } from '../../../common/artifacts';
import { initBackend } from '../../../policy/backend';
import type { GenerateOptions } from '../../../policy/generate';
import { modelFromWeights } from '../../../policy/model';
import { Tokenizer } from '../../../policy/tokenizer';
import { ServedModels } from '../../../serve/models';
import { PolicyStore } from '../../../serve/policy-store';
import { startServer, type RunningServer } from '../../../serve/server';
import { PolicyCache, publishPolicy, type LoadedPolicy } from '../../../trainer/policy-bundle';
import { randomWeights, TINY } from '../policy/helpers';

const RUN = 'unit-run';
const tokenizer = Tokenizer.build(['GET /users/7 HTTP ok done\nPOST /orders {"id": 12}']);
const config = { ...TINY, vocabSize: tokenizer.vocabSize, contextLength: 48 };

let dir: string;
let server: RunningServer;
let cache: PolicyCache;
const versions: LoadedPolicy[] = [];

beforeAll(async () => {
  await initBackend({ quiet: true });
  dir = mkdtempSync(join(tmpdir(), 'serve-unit-'));
  const store = new LocalArtifactStore(dir);
  cache = new PolicyCache(store);
  for (const version of [0, 1]) {
    const ref = await publishPolicy(store, artifactKeys.policy(RUN, version), modelFromWeights(config, 'policy', randomWeights(config, 11 + version)), tokenizer);
    versions.push(await cache.get(ref));
  }
  const policies = new PolicyStore(store);
  server = await startServer({ models: new ServedModels(policies, RUN), policies }, { port: 0 });
});

afterAll(async () => {
  await server?.close();
  await cache?.clear();
  rmSync(dir, { recursive: true, force: true });
});

async function post(path: string, body: unknown): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** The in-process engine's answer for the same prompt and options (row r of `copies` equal prompts). */
function inProcess(version: number, prompt: number[], opts: GenerateOptions, copies = 1) {
  const { policy } = versions[version];
  return policy.generate(Array.from({ length: copies }, () => prompt), { stopTokens: [tokenizer.eos], ...opts }, tokenizer);
}

const PROMPT = [tokenizer.bos, ...tokenizer.encode('GET /users')];

test('/v1/models lists the base name first (the newest version), then every version', async () => {
  const res = await fetch(`${server.url}/v1/models`);
  const body = (await res.json()) as { object: string; data: { id: string; root: string; parent: string | null }[] };
  expect(body.object).toBe('list');
  expect(body.data.map((m) => [m.id, m.root, m.parent])).toEqual([
    [RUN, `${RUN}@v1`, null],
    [`${RUN}@v0`, artifactKeys.policy(RUN, 0), null],
    [`${RUN}@v1`, artifactKeys.policy(RUN, 1), null],
  ]);
});

test('a seeded completion returns the IDs and log-probs the in-process engine samples, in vLLM and OpenAI fields', async () => {
  const request = { model: `${RUN}@v1`, prompt: PROMPT, max_tokens: 8, temperature: 1, seed: 5, logprobs: 2, return_token_ids: true };
  const { status, json } = await post('/v1/completions', request);
  expect(status).toBe(200);
  const [expected] = await inProcess(1, PROMPT, { temperature: 1, topP: 1, maxTokens: 8, seed: 5 });
  expect(expected.tokens.length).toBeGreaterThan(1);
  expect(json).toMatchObject({ object: 'text_completion', model: `${RUN}@v1`, usage: { prompt_tokens: PROMPT.length, completion_tokens: expected.tokens.length } });
  const [choice] = json.choices;
  expect(choice.token_ids).toEqual(expected.tokens);
  expect(choice.prompt_token_ids).toEqual(PROMPT);
  expect(choice.logprobs.token_logprobs).toEqual(expected.logProbs);
  expect(choice.logprobs.tokens).toEqual(expected.tokens.map((id) => tokenizer.tokenText(id)));
  expect(choice.text).toBe(expected.text);
  expect(choice.finish_reason).toBe(expected.finishReason);
  // Each position: the 2 most likely tokens and the sampled one, whose replayed log-prob agrees with the sampler's.
  for (const [i, top] of (choice.logprobs.top_logprobs as Record<string, number>[]).entries()) {
    expect([2, 3]).toContain(Object.keys(top).length);
    expect(top[tokenizer.tokenText(expected.tokens[i])]).toBe(expected.logProbs[i]);
    for (const lp of Object.values(top)) expect(lp).toBeLessThanOrEqual(0);
  }
  expect(choice.logprobs.text_offset[0]).toBe(0);
  // The same request again: the same sample.
  expect((await post('/v1/completions', request)).json.choices[0].token_ids).toEqual(expected.tokens);
});

test('temperature 0 is greedy: each token is the most likely one', async () => {
  const { json } = await post('/v1/completions', { prompt: PROMPT, max_tokens: 6, temperature: 0, logprobs: 1, return_token_ids: true, return_tokens_as_token_ids: true });
  const [expected] = await inProcess(1, PROMPT, { temperature: 0, topP: 1, maxTokens: 6, seed: 0 });
  const [choice] = json.choices;
  expect(choice.token_ids).toEqual(expected.tokens);
  expect(choice.logprobs.tokens).toEqual(expected.tokens.map((id) => `token_id:${id}`));
  for (const [i, top] of (choice.logprobs.top_logprobs as Record<string, number>[]).entries()) {
    // logprobs 1: the most likely token, which is the sampled one, so one entry.
    expect(Object.keys(top)).toEqual([`token_id:${expected.tokens[i]}`]);
  }
});

test('a text prompt is encoded as the rollouts encode it: bos + the text (add_special_tokens false: no bos)', async () => {
  const withBos = await post('/v1/completions', { prompt: 'GET /users', max_tokens: 2, return_token_ids: true });
  expect(withBos.json.choices[0].prompt_token_ids).toEqual(PROMPT);
  const without = await post('/v1/completions', { prompt: ['GET /users', 'POST'], max_tokens: 2, add_special_tokens: false, return_token_ids: true });
  expect(without.json.choices.map((c: { prompt_token_ids: number[] }) => c.prompt_token_ids)).toEqual([tokenizer.encode('GET /users'), tokenizer.encode('POST')]);
});

test('n choices of one prompt are rows 0..n-1, as the engine samples n copies; the version named is the one used', async () => {
  const { json } = await post('/v1/completions', { model: `${RUN}@v0`, prompt: PROMPT, n: 3, max_tokens: 5, seed: 9, return_token_ids: true, logprobs: 0 });
  const expected = await inProcess(0, PROMPT, { temperature: 1, topP: 1, maxTokens: 5, seed: 9 }, 3);
  expect(json.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
  expect(json.choices.map((c: { token_ids: number[] }) => c.token_ids)).toEqual(expected.map((g) => g.tokens));
  expect(json.choices.map((c: { logprobs: { token_logprobs: number[] } }) => c.logprobs.token_logprobs)).toEqual(expected.map((g) => g.logProbs));
});

test('a stop string ends the reply and is cut from the text unless include_stop_str_in_output; token_ids keep it', async () => {
  const [greedy] = await inProcess(1, PROMPT, { temperature: 0, topP: 1, maxTokens: 12, seed: 0 });
  const stop = greedy.text.trim().slice(1, 2) || greedy.text.slice(0, 1);
  expect(stop).not.toBe('');
  const [expected] = await inProcess(1, PROMPT, { temperature: 0, topP: 1, maxTokens: 12, seed: 0, stopStrings: [stop] });
  expect(expected.finishReason).toBe('stop');
  const base = { prompt: PROMPT, max_tokens: 12, temperature: 0, stop, return_token_ids: true };
  const cut = (await post('/v1/completions', base)).json.choices[0];
  expect(cut).toMatchObject({ text: expected.text.slice(0, -stop.length), finish_reason: 'stop', stop_reason: stop, token_ids: expected.tokens });
  const kept = (await post('/v1/completions', { ...base, include_stop_str_in_output: true })).json.choices[0];
  expect(kept.text).toBe(expected.text);
});

test('LoRA endpoints: vLLM statuses and messages; a loaded name serves the version its path names', async () => {
  const load = (body: unknown) => post('/v1/load_lora_adapter', body);
  const first = await load({ lora_name: 'step-0', lora_path: artifactKeys.policy(RUN, 0) });
  expect([first.status, first.text]).toEqual([200, "Success: LoRA adapter 'step-0' added successfully."]);
  const again = await load({ lora_name: 'step-0', lora_path: artifactKeys.policy(RUN, 0) });
  expect(again.status).toBe(400);
  expect(again.json.error).toMatchObject({ type: 'InvalidUserInput', code: 400 });
  expect(again.json.error.message).toContain("The lora adapter 'step-0' has already been loaded.");
  expect((await load({ lora_name: 'step-0', lora_path: '/adapters/unit-run/v1', load_inplace: true })).status).toBe(200);
  expect((await load({ lora_name: 'by-name', lora_path: `${RUN}@v0` })).status).toBe(200);
  const missing = await load({ lora_name: 'gone', lora_path: '/adapters/unit-run/v7' });
  expect([missing.status, missing.json.error.message]).toEqual([404, 'Loading lora gone failed: No adapter found for /adapters/unit-run/v7']);
  expect((await load({ lora_name: 'x' })).json.error.message).toBe("Both 'lora_name' and 'lora_path' must be provided.");

  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; parent: string | null; root: string }[] };
  expect(models.data.filter((m) => m.parent === RUN).map((m) => [m.id, m.root])).toEqual([
    ['step-0', '/adapters/unit-run/v1'],
    ['by-name', `${RUN}@v0`],
  ]);
  const sample = (model: string) => post('/v1/completions', { model, prompt: PROMPT, max_tokens: 6, seed: 2, return_token_ids: true }).then((r) => r.json.choices[0].token_ids);
  expect(await sample('step-0')).toEqual(await sample(`${RUN}@v1`));
  expect(await sample('by-name')).toEqual(await sample(`${RUN}@v0`));

  const unload = (body: unknown) => post('/v1/unload_lora_adapter', body);
  expect((await unload({ lora_name: 'step-0' })).text).toBe("Success: LoRA adapter 'step-0' removed successfully.");
  const unknown = await unload({ lora_name: 'step-0' });
  expect([unknown.status, unknown.json.error.message]).toEqual([404, "The lora adapter 'step-0' cannot be found."]);
  expect((await post('/v1/completions', { model: 'step-0', prompt: PROMPT })).status).toBe(404);
});

test.each([
  ['an unknown model', '/v1/completions', { model: 'other@v3', prompt: 'x' }, 404, 'The model `other@v3` does not exist.'],
  ['a version that is not stored', '/v1/completions', { model: `${RUN}@v9`, prompt: 'x' }, 404, `The model \`${RUN}@v9\` does not exist.`],
  ['a token outside the vocabulary', '/v1/completions', { prompt: [1, 100000] }, 400, 'outside the model'],
  ['a reply longer than the context', '/v1/completions', { prompt: PROMPT, max_tokens: 48 }, 400, "maximum context length is 48 tokens"],
  ['a chat to a built-in policy', '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }, 400, 'no chat template'],
  ['a body that is not JSON', '/v1/completions', '{"prompt": ', 400, 'not valid JSON'],
  ['an unknown route', '/v1/embeddings', { input: 'x' }, 404, 'no route /v1/embeddings'],
])('%s is an OpenAI-style JSON error', async (_, path, body, status, message) => {
  const res = await post(path, body);
  expect(res.status).toBe(status);
  expect(res.json.error).toMatchObject({ code: status, type: expect.any(String) });
  expect(res.json.error.message).toContain(message);
  expect((await fetch(`${server.url}/health`)).status).toBe(200); // and the server still answers
});
