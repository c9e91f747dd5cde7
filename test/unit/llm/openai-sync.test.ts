/**
 * Weight sync to a vLLM-protocol server (policy/llm/server-sync.ts) and the run-start check
 * (policy/llm/server-preflight.ts), against a real local HTTP server (openai-test-server.ts): versioned adapters
 * loaded once, "already loaded" taken as success, versions out of the window unloaded, a restarted server
 * reloaded; and a server that cannot serve training refused with InvalidRunConfig (never retried), an unreachable
 * one too at the run's start but retried later.
 */
import { OpenAiEngine, serverClients, type OpenAiRollout } from '../../../policy/llm/openai-engine';
import { baseModelOf, probeServer } from '../../../policy/llm/server-preflight';
import { staleVersions, syncServer, versionModelName } from '../../../policy/llm/server-sync';
import { pieceTokenizer, TestOpenAiServer } from './openai-test-server';

const PORT = 27313;
const NOTHING_LISTENS = 27314;
const tok = pieceTokenizer(['<eos>', '<end>', 'a', 'b', ' ', '\n', 'ab', 'Hi', '!']);

function settings(baseUrl: string, over: Partial<OpenAiRollout> = {}): OpenAiRollout {
  return { engine: 'openai', protocol: 'vllm', servers: [{ baseUrl }], concurrency: 2, timeoutMs: 2_000, maxRetries: 0, keepVersions: 2, adapterPath: '/adapters/{run}/v{version}', ...over };
}

const loads = (server: TestOpenAiServer) => server.requests.filter((r) => r.path === '/v1/load_lora_adapter').map((r) => r.body);

let server: TestOpenAiServer;
afterEach(() => server.stop());

describe('syncServer (vllm)', () => {
  test('loads the version under its versioned name once, unloads versions out of the window, reloads a restarted server', async () => {
    server = new TestOpenAiServer(PORT, { loraRoutes: true });
    await server.start();
    const s = settings(server.baseUrl);
    const [client] = serverClients(s);
    server.adapters.set('other-run@v0', '/elsewhere');
    await syncServer(client, s, 'run-a', 1);
    await syncServer(client, s, 'run-a', 1);
    expect(loads(server)).toEqual([{ lora_name: 'run-a@v1', lora_path: '/adapters/run-a/v1' }]);
    await syncServer(client, s, 'run-a', 2);
    await syncServer(client, s, 'run-a', 3);
    expect([...server.adapters.keys()].sort()).toEqual(['other-run@v0', 'run-a@v2', 'run-a@v3']);
    server.restart();
    await syncServer(client, s, 'run-a', 3);
    expect([...server.adapters.entries()]).toEqual([['run-a@v3', '/adapters/run-a/v3']]);
  });

  test('"already loaded" from a load that raced another counts as success', async () => {
    server = new TestOpenAiServer(PORT, { loraRoutes: true, hideAdapters: true });
    await server.start();
    const s = settings(server.baseUrl);
    const [client] = serverClients(s);
    server.adapters.set(versionModelName('run-a', 4), '/adapters/run-a/v4');
    await expect(syncServer(client, s, 'run-a', 4)).resolves.toBeUndefined();
    expect(loads(server)).toHaveLength(1);
  });

  test('a server without runtime LoRA updating is a configuration error', async () => {
    server = new TestOpenAiServer(PORT);
    await server.start();
    const s = settings(server.baseUrl);
    const err = (await syncServer(serverClients(s)[0], s, 'run-a', 1).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('InvalidRunConfig');
    expect(err.message).toMatch(/VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora/);
  });

  test('llama-cpp loads nothing at runtime: version 0, or a version it was started with as an alias; ratchet loads by name, nothing is sent', async () => {
    server = new TestOpenAiServer(PORT, { loraRoutes: true });
    await server.start();
    const llama = settings(server.baseUrl, { protocol: 'llama-cpp', adapterPath: '/shared/{run}-v{version}.gguf' });
    await syncServer(serverClients(llama)[0], llama, 'run-a', 0);
    await expect(syncServer(serverClients(llama)[0], llama, 'run-a', 2)).rejects.toMatchObject({
      name: 'InvalidRunConfig',
      message: expect.stringMatching(/cannot load policy version 2 at runtime: restart it with a model alias "run-a@v2" whose lora_path is \/shared\/run-a-v2\.gguf/),
    });
    server.adapters.set('run-a@v2', '/shared/run-a-v2.gguf'); // started with that alias
    await syncServer(serverClients(llama)[0], llama, 'run-a', 2);
    const ratchet = settings(server.baseUrl, { protocol: 'ratchet' });
    await syncServer(serverClients(ratchet)[0], ratchet, 'run-a', 5);
    expect(server.requests.map((r) => r.path)).toEqual(['/v1/models', '/v1/models']); // llama-cpp's two looks at its aliases, nothing sent
  });

  test('staleVersions: only this run\'s versions `keep` or more behind', () => {
    expect(staleVersions(['run-a@v1', 'run-a@v2', 'run-a@v3', 'run-ab@v0', 'base', 'run-a@vx'], 'run-a', 3, 2)).toEqual(['run-a@v1']);
    expect(staleVersions(['run-a@v2', 'run-a@v3'], 'run-a', 3, 1)).toEqual(['run-a@v2']);
  });
});

describe('preflight', () => {
  const atRunStart = { atRunStart: true };

  test('a server that serves the model with token IDs and log-probs passes; the base model is found when not named', async () => {
    server = new TestOpenAiServer(PORT, { models: ['smol'] });
    await server.start();
    const engine = new OpenAiEngine(settings(server.baseUrl), tok, 64);
    await expect(baseModelOf(engine, 0, atRunStart)).resolves.toBe('smol');
    await expect(probeServer(engine, 0, 'smol', [7], atRunStart)).resolves.toBeUndefined();
    expect(server.completions().at(-1)).toMatchObject({ max_tokens: 1, logprobs: 1, return_token_ids: true });
  });

  test('refused at once: a model the server does not serve, a reply without token IDs, an unknown served name', async () => {
    server = new TestOpenAiServer(PORT, { models: ['smol'], withoutTokenIds: true });
    await server.start();
    const named = new OpenAiEngine(settings(server.baseUrl, { model: 'llama-70b' }), tok, 64);
    await expect(baseModelOf(named, 0, atRunStart)).rejects.toMatchObject({ name: 'InvalidRunConfig', message: expect.stringMatching(/does not serve model "llama-70b".*"smol"/) });
    const engine = new OpenAiEngine(settings(server.baseUrl), tok, 64);
    await expect(probeServer(engine, 0, 'smol', [7], { atRunStart: false })).rejects.toMatchObject({ name: 'InvalidRunConfig', message: expect.stringMatching(/no token IDs/) });
    await expect(probeServer(engine, 0, 'run-a@v9', [7], { atRunStart: false })).rejects.toMatchObject({ name: 'InvalidRunConfig', message: expect.stringMatching(/404/) });
  });

  test('an unreachable server fails the run at its start, and is an ordinary (retried) error later', async () => {
    server = new TestOpenAiServer(PORT);
    const engine = new OpenAiEngine(settings(`http://127.0.0.1:${NOTHING_LISTENS}/v1`), tok, 64);
    await expect(baseModelOf(engine, 0, atRunStart)).rejects.toMatchObject({ name: 'InvalidRunConfig', message: expect.stringMatching(/must be up when the run starts/) });
    const later = (await baseModelOf(engine, 0, { atRunStart: false }).catch((e: unknown) => e)) as Error;
    expect(later.name).toBe('Error');
    expect(later.message).toMatch(/127.0.0.1:27314.*GET \/models failed/);
  });
});
