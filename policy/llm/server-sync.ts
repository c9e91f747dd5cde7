/**
 * Weight sync to inference servers (issue 31): before a rollout on version v, every server is made to serve v
 * under its versioned name, so rollouts request exactly the version the workflow names.
 *
 * - `vllm`: v is a LoRA adapter loaded at runtime, `POST /v1/load_lora_adapter {lora_name, lora_path}` (the server
 *   needs `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True` and `--enable-lora`). `GET /v1/models` is read first, so a
 *   restarted server (which forgot its adapters) gets v back, and a loaded one is not asked again; "already loaded"
 *   from a load that raced another counts as success. The run's versions that fell out of the window
 *   (`keepVersions`) are unloaded.
 * - `ratchet`: `ratchet serve` loads a stored version by its name on demand; nothing to send.
 * - `llama-cpp`: llama-cpp-python loads adapters only at start: version 0 is its base model, and version v must be
 *   one of its aliases already (started with the LoRA GGUF the torch worker wrote at adapterPath).
 *
 * Every call here is idempotent: a retried rollout activity re-reads the server's state and does only what is missing.
 */
import { parseVersionName, versionName } from '../../common/version-name';
import { unrunnableConfig } from '../../config/run-config';
import type { InferenceServer, OpenAiRollout } from './openai-engine';

/** The name a server serves version v of a run's policy under (`ratchet serve` resolves it to the stored version). */
export const versionModelName = (runId: string, version: number) => versionName({ runId, version });

/** The served name rollouts of version v request: the versioned name, or llama-cpp's base model for version 0. */
export function servedModelName(settings: Pick<OpenAiRollout, 'protocol' | 'model'>, runId: string, version: number, baseModel: string): string {
  return settings.protocol === 'llama-cpp' && version === 0 ? (settings.model ?? baseModel) : versionModelName(runId, version);
}

/** Where a vllm server reads version v's adapter (`adapterPath` with {run} and {version} filled in). */
export function adapterPathFor(template: string, runId: string, version: number): string {
  return template.replaceAll('{run}', runId).replaceAll('{version}', String(version));
}

/** The IDs `GET /models` lists. */
export async function servedModels(server: InferenceServer): Promise<{ id: string; parent?: string | null }[]> {
  const page = await server.client.models.list();
  return page.data.map((m) => ({ id: m.id, parent: (m as { parent?: string | null }).parent }));
}

/** Make `server` serve version v of the run (see the file's comment); unload the run's versions older than the window. */
export async function syncServer(server: InferenceServer, settings: OpenAiRollout, runId: string, version: number): Promise<void> {
  if (settings.protocol === 'ratchet') return;
  if (settings.protocol === 'llama-cpp') {
    // llama-cpp-python loads adapters only at start: a version after 0 must be one of its model aliases already.
    const name = versionModelName(runId, version);
    if (version === 0 || (await servedModels(server)).some((m) => m.id === name)) return;
    const adapter = settings.adapterPath ? ` whose lora_path is ${adapterPathFor(settings.adapterPath, runId, version)}` : ' with that version\'s LoRA GGUF (set adapterPath to have the torch worker write it)';
    throw unrunnableConfig(
      `inference server ${server.baseUrl} (protocol llama-cpp) cannot load policy version ${version} at runtime: restart it with a model alias "${name}"${adapter}, ` +
        'or train through a vllm or ratchet server, or use the onnx engine',
    );
  }
  if (!settings.adapterPath) throw unrunnableConfig('protocol vllm needs agent.policy.rollout.adapterPath');
  const name = versionModelName(runId, version);
  const listed = (await servedModels(server)).map((m) => m.id);
  if (!listed.includes(name)) await loadAdapter(server, name, adapterPathFor(settings.adapterPath, runId, version));
  for (const old of staleVersions(listed, runId, version, settings.keepVersions)) await unloadAdapter(server, old);
}

/** The run's versioned names in `listed` that are `keep` or more versions behind `version`. */
export function staleVersions(listed: readonly string[], runId: string, version: number, keep: number): string[] {
  return listed.filter((id) => {
    const named = parseVersionName(id);
    return named?.runId === runId && named.version <= version - keep;
  });
}

async function loadAdapter(server: InferenceServer, name: string, path: string): Promise<void> {
  const { status, text } = await postManagement(server, '/load_lora_adapter', { lora_name: name, lora_path: path });
  if (status < 300 || (status === 400 && /already\s+(been\s+)?loaded/i.test(text))) return;
  if (status === 404 && /^\{"detail":"Not Found"\}$/.test(text.trim())) {
    // FastAPI's answer for a route the server does not have.
    throw unrunnableConfig(`inference server ${server.baseUrl} has no /load_lora_adapter: start vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora`);
  }
  throw new Error(`inference server ${server.baseUrl}: loading adapter ${name} from ${path} failed (${status}): ${text.slice(0, 500)}`);
}

/** Unloading is housekeeping: an adapter already gone is fine, and one that stays loaded is unloaded at the next sync. */
async function unloadAdapter(server: InferenceServer, name: string): Promise<void> {
  await postManagement(server, '/unload_lora_adapter', { lora_name: name });
}

/**
 * A POST to a management route (not the OpenAI API, so not through the `openai` client, whose errors keep only an
 * OpenAI-shaped body's message): the status and the body's text.
 */
async function postManagement(server: InferenceServer, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const { client } = server;
  try {
    const response = await fetch(`${client.baseURL.replace(/\/+$/, '')}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${client.apiKey}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(client.timeout),
    });
    return { status: response.status, text: await response.text() };
  } catch (err) {
    // fetch's "fetch failed" is a TypeError, which the workflow never retries; an unreachable server is retried.
    throw new Error(`inference server ${server.baseUrl}: POST ${path} failed: ${(err as Error).message}`, { cause: err });
  }
}
