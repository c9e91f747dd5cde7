/**
 * Stored policy versions, found and loaded from the artifact store alone (no Postgres needed, so runs of
 * `ratchet train-local` serve too). Version v of run r is the ONNX artifact `runs/<r>/policy/v<000000v>.onnx`
 * (common/artifact-keys.ts), which both policy kinds publish.
 *
 * The kind comes from the run's stored config (`runs/<r>/config/*.json`, written by every durable run): an `llm`
 * policy's graph needs the model's tokenizer (`agent.policy.model`). A run without a stored config (train-local
 * trains the built-in policy only) is served as built-in; `--model <ref>` says a run's graphs are that LLM's.
 *
 * Loading keeps the project's caches (PolicyCache, LlmPolicyCache: versions keyed by sha256, evicted beyond their
 * capacity). A version's sha256 is read once, by reading the artifact (the store checks it against the hash it
 * stored), then the cache reads it again verified by that hash: an extra read per version and process.
 */
import { sha256, type ArtifactRef, type ArtifactStore } from '../common/artifacts';
import { artifactKeys } from '../common/artifact-keys';
import type { RunConfig } from '../config/run-config';
import { LlmPolicyCache } from '../policy/llm/llm-policy';
import { PolicyCache } from '../trainer/policy-bundle';
import { ApiError } from './errors';
import { servedBuiltin, servedLlm, type ServedPolicy } from './served-policy';
import { parseVersionName, versionName, type VersionRef } from '../common/version-name';

export { parseVersionName, versionName, type VersionRef };

type PolicyKind = { kind: 'builtin' } | { kind: 'llm'; model: string };

const POLICY_KEY = /^runs\/([a-z0-9][a-z0-9-]{0,62})\/policy\/v(\d{1,9})\.onnx$/;
/** A path ending in `<runId>/v<N>`: an adapter path as a vLLM client fills `.../{run}/v{version}`. */
const RUN_VERSION_PATH = /(?:^|\/)([a-z0-9][a-z0-9-]{0,62})\/v(\d{1,9})\/?$/;

/**
 * A version as a LoRA path may name it: its artifact key `runs/<runId>/policy/v<000000N>.onnx`, `<runId>@v<N>`, or
 * any path ending in `<runId>/v<N>` (a vLLM client's adapter path template `.../{run}/v{version}`).
 */
export function parsePolicyReference(text: string): VersionRef | undefined {
  const m = POLICY_KEY.exec(text) ?? RUN_VERSION_PATH.exec(text);
  return m ? { runId: m[1], version: Number(m[2]) } : parseVersionName(text);
}

export interface PolicyStoreOptions {
  /** The LLM every run's graphs belong to (overrides the stored configs). */
  model?: string;
  /** Versions kept loaded (default: 4 built-in, 1 LLM: a 650 MB session each). */
  builtinCapacity?: number;
  llmCapacity?: number;
  /** ORT threads of an LLM session (default: every core). */
  llmThreads?: number;
}

export class PolicyStore {
  private readonly builtin: PolicyCache;
  private readonly llm: LlmPolicyCache;
  private readonly kinds = new Map<string, Promise<PolicyKind>>();
  private readonly refs = new Map<string, Promise<ArtifactRef>>();

  constructor(
    private readonly store: ArtifactStore,
    private readonly opts: PolicyStoreOptions = {},
  ) {
    this.builtin = new PolicyCache(store, opts.builtinCapacity ?? 4);
    this.llm = new LlmPolicyCache(store, opts.llmCapacity ?? 1, { intraOpNumThreads: opts.llmThreads });
  }

  /** The run's stored versions, ascending. */
  async versions(runId: string): Promise<number[]> {
    const prefix = `runs/${runId}/policy/`;
    const versions: number[] = [];
    for (const key of await this.store.list(prefix)) {
      const m = POLICY_KEY.exec(key);
      if (m && m[1] === runId) versions.push(Number(m[2]));
    }
    return versions.sort((a, b) => a - b);
  }

  /** The newest stored version; 404 when the run has none. */
  async latest(runId: string): Promise<number> {
    const versions = await this.versions(runId);
    if (versions.length === 0) throw new ApiError(404, `run "${runId}" has no stored policy versions (runs/${runId}/policy/v*.onnx) in the artifact store`);
    return versions[versions.length - 1];
  }

  /** Whether the version is stored (without loading it). */
  has(ref: VersionRef): Promise<boolean> {
    return this.store.has(artifactKeys.policy(ref.runId, ref.version));
  }

  /** The version, loaded (or from the cache). 404 when it is not stored. */
  async load(ref: VersionRef): Promise<ServedPolicy> {
    if (!(await this.has(ref))) throw new ApiError(404, `policy version ${versionName(ref)} is not stored (${artifactKeys.policy(ref.runId, ref.version)}; an LLM run keeps its newest agent.policy.keepExports graphs)`);
    const [kind, artifact] = await Promise.all([this.kindOf(ref.runId), this.artifactRef(ref)]);
    if (kind.kind === 'llm') return servedLlm(await this.llm.get(artifact, kind.model));
    try {
      return servedBuiltin(await this.builtin.get(artifact));
    } catch (err) {
      const message = (err as Error).message;
      if (!message.includes('no tokenizer metadata')) throw err;
      throw new ApiError(400, `${versionName(ref)} is not a built-in policy bundle and run "${ref.runId}" has no stored config saying which LLM it is: start the server with --model <ref>`);
    }
  }

  /** Release every loaded session. */
  async close(): Promise<void> {
    await Promise.all([this.builtin.clear(), this.llm.clear()]);
  }

  private kindOf(runId: string): Promise<PolicyKind> {
    let kind = this.kinds.get(runId);
    if (!kind) {
      kind = this.readKind(runId);
      kind.catch(() => this.kinds.delete(runId));
      this.kinds.set(runId, kind);
    }
    return kind;
  }

  private async readKind(runId: string): Promise<PolicyKind> {
    if (this.opts.model) return { kind: 'llm', model: this.opts.model };
    const keys = await this.store.list(`runs/${runId}/config/`);
    const configs = await Promise.all(keys.map((key) => this.store.get(key).then((bytes) => JSON.parse(Buffer.from(bytes).toString('utf8')) as RunConfig)));
    const kinds = new Set(configs.map((c) => JSON.stringify(policyKind(c))));
    if (kinds.size > 1) throw new ApiError(400, `run "${runId}" has stored configs with different policies (${[...kinds].join(', ')}): start the server with --model <ref>`);
    return configs.length ? policyKind(configs[0]) : { kind: 'builtin' };
  }

  private artifactRef(ref: VersionRef): Promise<ArtifactRef> {
    const key = artifactKeys.policy(ref.runId, ref.version);
    let artifact = this.refs.get(key);
    if (!artifact) {
      artifact = this.store.get(key).then((bytes) => ({ key, sha256: sha256(bytes) }));
      artifact.catch(() => this.refs.delete(key));
      this.refs.set(key, artifact);
    }
    return artifact;
  }
}

function policyKind(config: RunConfig): PolicyKind {
  const policy = config.agent?.policy;
  return policy?.kind === 'llm' ? { kind: 'llm', model: policy.model } : { kind: 'builtin' };
}
