/**
 * Model names and vLLM's runtime LoRA endpoints.
 *
 * Names: `<runId>@v<N>` is stored policy version N of run `<runId>` (any run in the artifact store); `<runId>` alone
 * is the served run's `--version`, else its newest version at the time of the request (what a client that does not
 * pin a version gets, and the first "base model" /v1/models lists). A request without `model` gets that too.
 *
 * LoRA: `POST /v1/load_lora_adapter {lora_name, lora_path}` registers `lora_name` as one more name for the version
 * `lora_path` names (policy-store.ts parsePolicyReference: an artifact key, `<runId>@v<N>`, or a path ending in
 * `<runId>/v<N>`), and loads it, as vLLM preloads an adapter. The statuses and messages are vLLM's
 * (vllm/entrypoints/openai/models/serving.py): a name already loaded is a 400 unless `load_inplace`, an unknown path
 * a 404, unloading an unknown name a 404; success is 200 with a plain-text message.
 */
import { artifactKeys } from '../common/artifact-keys';
import { ApiError, unknownModel } from './errors';
import { parsePolicyReference, parseVersionName, versionName, type PolicyStore, type VersionRef } from './policy-store';
import type { LoadLoraRequest, UnloadLoraRequest } from './requests';

export interface ModelCard {
  id: string;
  object: 'model';
  created: number;
  owned_by: 'ratchet';
  root: string;
  parent: string | null;
  permission: [];
}

interface Adapter {
  path: string;
  ref: VersionRef;
  created: number;
}

const invalidUserInput = (status: number, message: string) => new ApiError(status, message, null, status === 404 ? 'NotFoundError' : 'InvalidUserInput');

export class ServedModels {
  private readonly adapters = new Map<string, Adapter>();
  private readonly started = Math.floor(Date.now() / 1000);

  constructor(
    private readonly policies: PolicyStore,
    /** The served run: its id is the base model's name. */
    readonly runId: string,
    /** `--version`: the version the base name stands for (absent: the newest). */
    private readonly pinned?: number,
  ) {}

  /** The version a request's `model` names; 404 for a name this server does not serve. */
  async resolve(name: string | null | undefined): Promise<VersionRef> {
    if (!name || name === this.runId) return this.base();
    const adapter = this.adapters.get(name);
    if (adapter) return adapter.ref;
    const ref = parseVersionName(name);
    if (ref && (await this.policies.has(ref))) return ref;
    throw unknownModel(name);
  }

  /** The base name first (a client without a model name takes the first listed), then every version, then adapters. */
  async list(): Promise<ModelCard[]> {
    const card = (id: string, root: string, parent: string | null, created = this.started): ModelCard => ({ id, object: 'model', created, owned_by: 'ratchet', root, parent, permission: [] });
    const versions = await this.policies.versions(this.runId);
    const cards = versions.length ? [card(this.runId, versionName(await this.base()), null)] : [];
    for (const version of versions) cards.push(card(versionName({ runId: this.runId, version }), artifactKeys.policy(this.runId, version), null));
    for (const [name, adapter] of this.adapters) cards.push(card(name, adapter.path, this.runId, adapter.created));
    return cards;
  }

  async loadAdapter(request: LoadLoraRequest): Promise<string> {
    const { lora_name: name, lora_path: path } = request;
    if (!name || !path) throw invalidUserInput(400, "Both 'lora_name' and 'lora_path' must be provided.");
    if (!request.load_inplace && this.adapters.has(name)) {
      throw invalidUserInput(400, `The lora adapter '${name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`);
    }
    const ref = parsePolicyReference(path);
    if (!ref || !(await this.policies.has(ref))) throw invalidUserInput(404, `Loading lora ${name} failed: No adapter found for ${path}`);
    await this.policies.load(ref);
    this.adapters.set(name, { path, ref, created: Math.floor(Date.now() / 1000) });
    return `Success: LoRA adapter '${name}' added successfully.`;
  }

  unloadAdapter(request: UnloadLoraRequest): string {
    const name = request.lora_name;
    if (!name) throw invalidUserInput(400, "'lora_name' needs to be provided to unload a LoRA adapter.");
    if (!this.adapters.delete(name)) throw invalidUserInput(404, `The lora adapter '${name}' cannot be found.`);
    return `Success: LoRA adapter '${name}' removed successfully.`;
  }

  private async base(): Promise<VersionRef> {
    return { runId: this.runId, version: this.pinned ?? (await this.policies.latest(this.runId)) };
  }
}
