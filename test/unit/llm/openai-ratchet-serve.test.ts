/**
 * The openai rollout engine against `ratchet serve` (serve/server.ts) on a real port, over two versions of a tiny
 * built-in policy in a local artifact store: the run-start check passes, each version is requested by its versioned
 * name, and every row comes back with the token IDs and log-probs the in-process engine samples for that row's seed
 * (stops applied on this side included); the two versions answer differently.
 */
import { hashSeed } from '../../../common/random';
import type { GenerateOptions } from '../../../policy/generate';
import { OpenAiEngine } from '../../../policy/llm/openai-engine';
import { baseModelOf, probeServer } from '../../../policy/llm/server-preflight';
import { syncServer, versionModelName } from '../../../policy/llm/server-sync';
import { config, serveTinyVersions, tokenizer, type TinyServe } from '../serve/tiny-versions';

const RUN = 'openai-run';

let upstream: TinyServe;
let versions: TinyServe['versions'];
let engine: OpenAiEngine;

beforeAll(async () => {
  upstream = await serveTinyVersions(RUN);
  versions = upstream.versions;
  const settings = { engine: 'openai' as const, protocol: 'ratchet' as const, servers: [{ baseUrl: `${upstream.server.url}/v1` }], concurrency: 3, timeoutMs: 30_000, maxRetries: 1, keepVersions: 2 };
  engine = new OpenAiEngine(settings, tokenizer, config.contextLength);
});

afterAll(async () => {
  await upstream?.close();
});

const PROMPTS = ['GET /users', 'POST /orders', 'GET /'].map((text) => [tokenizer.bos, ...tokenizer.encode(text)]);
const STREAMS = [4, 9, 2];

/** What the in-process engine samples for each row alone, with the row's seed as the engine derives it. */
async function inProcess(version: number, opts: GenerateOptions) {
  return Promise.all(
    PROMPTS.map(async (prompt, i) => {
      const [g] = await versions[version].policy.generate([prompt], { ...opts, seed: hashSeed(`${opts.seed}/${STREAMS[i]}`), streams: undefined }, tokenizer);
      return g;
    }),
  );
}

test('the run-start check passes: the server lists its models and answers a 1-token probe with IDs and log-probs', async () => {
  await expect(baseModelOf(engine, 0, { atRunStart: true })).resolves.toBe(RUN);
  await syncServer(engine.servers[0], engine.settings, RUN, 1); // ratchet serve loads versions by name: nothing to send
  await expect(probeServer(engine, 0, versionModelName(RUN, 1), PROMPTS[0], { atRunStart: true })).resolves.toBeUndefined();
  await expect(probeServer(engine, 0, versionModelName(RUN, 7), PROMPTS[0], { atRunStart: true })).rejects.toMatchObject({ name: 'InvalidRunConfig' });
});

test('each row: the IDs and log-probs the in-process engine samples with the same seed', async () => {
  const opts: GenerateOptions = { temperature: 1, topP: 1, maxTokens: 10, seed: 77, streams: STREAMS, stopTokens: [tokenizer.eos] };
  const served = await engine.generate([versionModelName(RUN, 1)], PROMPTS, opts);
  const expected = await inProcess(1, opts);
  expect(served.map((g) => g.tokens)).toEqual(expected.map((g) => g.tokens));
  expect(served.map((g) => g.logProbs)).toEqual(expected.map((g) => g.logProbs));
  expect(served.map((g) => [g.text, g.finishReason])).toEqual(expected.map((g) => [g.text, g.finishReason]));
  expect(served.some((g) => g.tokens.length > 1)).toBe(true);
});

test('stops: the same replies whether the server or this side applies them (after a leading blank: this side only)', async () => {
  const greedy = await inProcess(1, { temperature: 0, topP: 1, maxTokens: 10, seed: 0, stopTokens: [tokenizer.eos] });
  const stop = greedy[0].text.trim().slice(1, 2) || greedy[0].text.slice(0, 1);
  expect(stop).not.toBe('');
  for (const stopsAfterLeadingBlank of [false, true]) {
    const opts: GenerateOptions = { temperature: 0.8, topP: 1, maxTokens: 10, seed: 3, streams: STREAMS, stopTokens: [tokenizer.eos], stopStrings: [stop], stopsAfterLeadingBlank };
    const served = await engine.generate([versionModelName(RUN, 1)], PROMPTS, opts);
    const expected = await inProcess(1, opts);
    expect(served).toEqual(expected);
  }
});

test('each version is answered by its own weights', async () => {
  const opts: GenerateOptions = { temperature: 0, topP: 1, maxTokens: 8, seed: 0, stopTokens: [tokenizer.eos] };
  const [v0, v1] = [await engine.generate([versionModelName(RUN, 0)], PROMPTS, opts), await engine.generate([versionModelName(RUN, 1)], PROMPTS, opts)];
  expect(v0.map((g) => g.tokens)).toEqual((await inProcess(0, opts)).map((g) => g.tokens));
  expect(v0.map((g) => g.tokens)).not.toEqual(v1.map((g) => g.tokens));
});
