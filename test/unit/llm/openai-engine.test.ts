/**
 * policy/llm/openai-engine.ts against a real local HTTP server (openai-test-server.ts): batching up to
 * `concurrency`, rows in order with their own seeds, retries with backoff through 429 (Retry-After) and 500,
 * giving up after `maxRetries`, timeouts, and an onProgress exception aborting the requests in flight.
 */
import { APIConnectionError } from 'openai';
import { OpenAiEngine, type OpenAiRollout } from '../../../policy/llm/openai-engine';
import { pieceTokenizer, TestOpenAiServer } from './openai-test-server';

const PORT = 27311;
const tok = pieceTokenizer(['<eos>', '<end>', 'a', 'b', ' ', '\n', 'ab', 'Hi', '!']);
const sampling = { temperature: 1, topP: 1, maxTokens: 8, seed: 11 };

function settings(baseUrl: string, over: Partial<OpenAiRollout> = {}): OpenAiRollout {
  return { engine: 'openai', protocol: 'vllm', servers: [{ baseUrl }], concurrency: 4, timeoutMs: 5_000, maxRetries: 3, keepVersions: 2, ...over };
}

describe('OpenAiEngine', () => {
  let server: TestOpenAiServer;

  afterEach(() => server.stop());

  test('batches up to `concurrency` requests and returns each row its own reply, in order', async () => {
    server = new TestOpenAiServer(PORT, { delayMs: 50, reply: (prompt) => ({ tokens: [prompt[0], 8, 1, 2], logProbs: [-0.1, -0.2, -0.3, -0.4] }) });
    await server.start();
    const engine = new OpenAiEngine(settings(server.baseUrl, { concurrency: 2 }), tok, 64);
    const prompts = [[2], [3], [6], [7], [2, 3], [8]];
    const out = await engine.generate(['base-model'], prompts, { ...sampling, stopTokens: [1], streams: [10, 11, 12, 13, 14, 15] });
    expect(out.map((g) => g.tokens)).toEqual(prompts.map((p) => [p[0], 8, 1]));
    expect(out[2]).toEqual({ tokens: [6, 8, 1], logProbs: [-0.1, -0.2, -0.3], text: 'ab!', finishReason: 'stop' });
    expect(server.maxInFlight).toBe(2);
    const seeds = server.completions().map((b) => b.seed);
    expect(new Set(seeds).size).toBe(prompts.length); // a seed per row (its stream), not one per batch
    // The same stream gets the same seed in another batch.
    await engine.generate(['base-model'], [[3]], { ...sampling, streams: [11] });
    expect(server.completions().at(-1)!.seed).toBe(server.completions().find((b) => (b.prompt as number[])[0] === 3)!.seed);
  });

  test('429 with Retry-After, then 500, then success: retried with the wait the server asked for', async () => {
    server = new TestOpenAiServer(PORT);
    await server.start();
    server.failures.push({ status: 429, headers: { 'retry-after': '1' } }, { status: 500 });
    const engine = new OpenAiEngine(settings(server.baseUrl), tok, 64);
    const started = Date.now();
    const [g] = await engine.generate(['base-model'], [[2, 3]], sampling);
    expect(g.tokens).toEqual([3, 7, 0]);
    const calls = server.completions().length;
    expect(calls).toBe(3);
    const at = server.requests.filter((r) => r.path === '/v1/completions').map((r) => r.at);
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(950); // Retry-After: 1 s
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('gives up after maxRetries with the server error', async () => {
    server = new TestOpenAiServer(PORT);
    await server.start();
    for (let i = 0; i < 3; i++) server.failures.push({ status: 503, headers: { 'retry-after-ms': '10' } });
    const engine = new OpenAiEngine(settings(server.baseUrl, { maxRetries: 2 }), tok, 64);
    await expect(engine.generate(['base-model'], [[2]], sampling)).rejects.toThrow(/503/);
    expect(server.completions()).toHaveLength(3);
  });

  test('a request that gets no answer times out (timeoutMs), then is retried', async () => {
    server = new TestOpenAiServer(PORT);
    await server.start();
    server.failures.push('hang');
    const engine = new OpenAiEngine(settings(server.baseUrl, { timeoutMs: 1_000, maxRetries: 1 }), tok, 64);
    const [g] = await engine.generate(['base-model'], [[2]], sampling);
    expect(g.tokens).toEqual([2, 7, 0]);
    expect(server.completions()).toHaveLength(2);
  });

  test('a request that gets no answer on any attempt fails as timed out', async () => {
    server = new TestOpenAiServer(PORT);
    await server.start();
    server.failures.push('hang', 'hang');
    const engine = new OpenAiEngine(settings(server.baseUrl, { timeoutMs: 1_000, maxRetries: 1 }), tok, 64);
    const started = Date.now();
    // A timeout is an APIConnectionTimeoutError outside jest; jest's realm hides the abort's name from the client.
    await expect(engine.generate(['base-model'], [[2]], sampling)).rejects.toThrow(APIConnectionError);
    // The first attempt waited out its 1 s. (Outside jest the retry also waits 1 s and reaches the server: 2 attempts
    // in 2.4 s, measured with tsx; inside jest the retry after an abort fails at once, before it is sent.)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(server.completions().length).toBeGreaterThanOrEqual(1);
  });

  test('an exception from onProgress (a cancelled activity) aborts the generation', async () => {
    server = new TestOpenAiServer(PORT);
    await server.start();
    server.failures.push('hang');
    const engine = new OpenAiEngine(settings(server.baseUrl, { timeoutMs: 60_000, maxRetries: 0 }), tok, 64);
    const cancelled = new Error('activity cancelled');
    const started = Date.now();
    const outcome = engine.generate(['base-model'], [[2]], {
      ...sampling,
      onProgress: () => {
        throw cancelled;
      },
    });
    await expect(outcome).rejects.toBe(cancelled);
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);

  test('rows go to the servers in turn, each under its served name', async () => {
    server = new TestOpenAiServer(PORT, { models: ['m0'] });
    const second = new TestOpenAiServer(PORT + 1, { models: ['m1'] });
    await Promise.all([server.start(), second.start()]);
    try {
      const engine = new OpenAiEngine(settings(server.baseUrl, { servers: [{ baseUrl: server.baseUrl }, { baseUrl: second.baseUrl }] }), tok, 64);
      await engine.generate(['m0', 'm1'], [[2], [3], [6]], sampling);
      expect(server.completions().map((b) => [b.model, b.prompt])).toEqual([
        ['m0', [2]],
        ['m0', [6]],
      ]);
      expect(second.completions().map((b) => [b.model, b.prompt])).toEqual([['m1', [3]]]);
    } finally {
      await second.stop();
    }
  });

  test('refuses a prompt the context cannot hold, and an API key variable that is not set', async () => {
    server = new TestOpenAiServer(PORT);
    await server.start();
    const engine = new OpenAiEngine(settings(server.baseUrl), tok, 4);
    await expect(engine.generate(['base-model'], [[2, 2, 2, 2]], sampling)).rejects.toThrow(/4 tokens; the model's context is 4/);
    expect(() => new OpenAiEngine(settings(server.baseUrl, { servers: [{ baseUrl: server.baseUrl, apiKeyEnv: 'RATCHET_TEST_NO_SUCH_KEY' }] }), tok, 64, {})).toThrow(
      /RATCHET_TEST_NO_SUCH_KEY .* not set/,
    );
  });
});
