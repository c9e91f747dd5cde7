/**
 * `ratchet serve` as a user runs it: a tiny apps run trained by `ratchet train-local` (real process; its versions
 * land in the test artifact store), then `ratchet serve --run <id> --port 27303` (real process), called with the
 * `openai` npm client. The sampled token IDs and log-probs must equal the in-process engine's for the same seed
 * (exact: the same engine on the same graph), with vLLM's `return_token_ids` fields, and the LoRA endpoints must
 * switch the version a name serves. Port 27303 (RATCHET_TEST_SERVE_PORT overrides it); no Temporal or Postgres is used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';
import { artifactKeys } from '../../common/artifact-keys';
import { LocalArtifactStore, sha256 } from '../../common/artifacts';
import { REPO_ROOT } from '../../infra/paths';
import { tsxCommand } from '../../infra/processes';
import { PolicyCache } from '../../trainer/policy-bundle';
import { appsTestConfig } from './support/apps';
import { ratchet, writeConfig } from './support/cli';

const PORT = Number(process.env.RATCHET_TEST_SERVE_PORT ?? 27303);
const config = appsTestConfig({ steps: 1, tasksPerStep: 4, groupSize: 2, rolloutShards: 1 });
const artifactsDir = () => process.env.RATCHET_TEST_ARTIFACTS!;

let server: ChildProcess | undefined;
let client: OpenAI;
let cache: PolicyCache;

/** Start `ratchet serve` and wait for its line saying where it listens. */
function startServe(args: string[]): Promise<{ process: ChildProcess; line: string }> {
  const { command, args: full } = tsxCommand(join(REPO_ROOT, 'cli', 'main.ts'), ['serve', ...args]);
  const child = spawn(command, full, { cwd: REPO_ROOT, env: { ...process.env, RATCHET_ARTIFACTS_DIR: artifactsDir() }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('ratchet serve:'));
      if (line) resolve({ process: child, line });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`ratchet serve exited (${code}): ${err}`)));
  });
}

beforeAll(async () => {
  const trained = await ratchet(['train-local', writeConfig(`serve-${config.runId}`, config)], 300_000, { RATCHET_ARTIFACTS_DIR: artifactsDir() });
  expect(trained).toMatchObject({ code: 0 });
  server = (await startServe(['--run', config.runId, '--port', String(PORT)])).process;
  client = new OpenAI({ baseURL: `http://127.0.0.1:${PORT}/v1`, apiKey: 'unused', maxRetries: 0 });
  cache = new PolicyCache(new LocalArtifactStore(artifactsDir()));
}, 360_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  await cache?.clear();
});

/** The in-process engine on the stored version, as a rollout worker loads it. */
async function inProcess(version: number) {
  const key = artifactKeys.policy(config.runId, version);
  const bytes = await new LocalArtifactStore(artifactsDir()).get(key);
  return cache.get({ key, sha256: sha256(bytes) });
}

/** vLLM's extra fields on a completion choice. */
type VllmChoice = OpenAI.Completions.CompletionChoice & { token_ids: number[]; prompt_token_ids: number[] };

test('the models are the run and each stored version (v0: the SFT base, v1: after one step)', async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  expect(ids).toEqual([config.runId, `${config.runId}@v0`, `${config.runId}@v1`]);
});

test.each([
  ['sampled (T = 1)', 1, 11],
  ['sampled (T = 0.7)', 0.7, 12],
  ['greedy', 0, 0],
])('%s: token IDs and log-probs equal in-process generation for the same seed', async (_, temperature, seed) => {
  const { policy, tokenizer } = await inProcess(1);
  const prompt = [tokenizer.bos, ...tokenizer.encode('GET /')];
  const [expected] = await policy.generate([prompt], { temperature, topP: 1, maxTokens: 12, seed, stopStrings: ['\n'] }, tokenizer);
  const body = { model: `${config.runId}@v1`, prompt, max_tokens: 12, temperature, seed, stop: ['\n'], logprobs: 3, return_token_ids: true };
  const response = await client.completions.create(body as OpenAI.Completions.CompletionCreateParamsNonStreaming);
  const choice = response.choices[0] as VllmChoice;
  expect(choice.token_ids).toEqual(expected.tokens);
  expect(choice.prompt_token_ids).toEqual(prompt);
  expect(choice.logprobs!.token_logprobs).toEqual(expected.logProbs);
  expect(choice.logprobs!.tokens).toEqual(expected.tokens.map((id) => tokenizer.tokenText(id)));
  expect(choice.logprobs!.top_logprobs!.length).toBe(expected.tokens.length);
  expect(choice.finish_reason).toBe(expected.finishReason);
  expect(choice.text).toBe(expected.finishReason === 'stop' && expected.text.endsWith('\n') ? expected.text.slice(0, -1) : expected.text);
  expect(response.usage).toMatchObject({ prompt_tokens: prompt.length, completion_tokens: expected.tokens.length });
});

test('LoRA endpoints move a name between versions, as a vLLM weight sync would', async () => {
  const post = (path: string, body: unknown) => fetch(`http://127.0.0.1:${PORT}/v1/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const sample = async (model: string) => {
    const r = await client.completions.create({ model, prompt: 'GET /', max_tokens: 24, temperature: 1, seed: 4, return_token_ids: true } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    return (r.choices[0] as VllmChoice).token_ids;
  };
  // The two versions sample differently here, so the name's switch shows in its output.
  expect(await sample(`${config.runId}@v0`)).not.toEqual(await sample(`${config.runId}@v1`));
  expect((await post('load_lora_adapter', { lora_name: 'current', lora_path: `/adapters/${config.runId}/v0` })).status).toBe(200);
  expect(await sample('current')).toEqual(await sample(`${config.runId}@v0`));
  expect((await post('load_lora_adapter', { lora_name: 'current', lora_path: `/adapters/${config.runId}/v1` })).status).toBe(400); // vLLM: already loaded
  expect((await post('load_lora_adapter', { lora_name: 'current', lora_path: `/adapters/${config.runId}/v1`, load_inplace: true })).status).toBe(200);
  expect(await sample('current')).toEqual(await sample(`${config.runId}@v1`));
  expect((await post('unload_lora_adapter', { lora_name: 'current' })).status).toBe(200);
  await expect(sample('current')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
});

test('bad requests are OpenAI errors the client raises, and the server keeps serving', async () => {
  await expect(client.completions.create({ model: `${config.runId}@v1`, prompt: 'x', temperature: -1 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  await expect(client.chat.completions.create({ model: config.runId, messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow(/no chat template/);
  await expect(client.completions.create({ model: 'no-such-run@v1', prompt: 'x' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  expect((await client.completions.create({ model: config.runId, prompt: 'GET /', max_tokens: 2 })).choices).toHaveLength(1);
});
