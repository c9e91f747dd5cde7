/**
 * Weight sync: the trainer exports its policy to ONNX (tokenizer in the model's metadata, so one artifact and
 * one sha256 describe everything a rollout worker needs) and publishes it as version v. Rollout workers load
 * exactly the version the workflow names, verified by hash, and keep recently used versions in memory.
 */
import type { ArtifactRef, ArtifactStore } from '../common/artifacts';
import { OrtPolicy } from '../policy/generate';
import { getWeights, Model } from '../policy/model';
import { exportOnnx, readOnnxMetadata } from '../policy/onnx-export';
import { Tokenizer, TokenizerJSON } from '../policy/tokenizer';

const TOKENIZER_KEY = 'ratchet.tokenizer';

export interface LoadedPolicy {
  policy: OrtPolicy;
  tokenizer: Tokenizer;
}

export function exportPolicyBundle(policy: Model, tokenizer: Tokenizer): Uint8Array {
  return exportOnnx(getWeights(policy), policy.config, { logits: 'last', metadata: { [TOKENIZER_KEY]: JSON.stringify(tokenizer.toJSON()) } });
}

export async function publishPolicy(store: ArtifactStore, key: string, policy: Model, tokenizer: Tokenizer): Promise<ArtifactRef> {
  return store.put(key, exportPolicyBundle(policy, tokenizer));
}

export async function openPolicyBundle(bytes: Uint8Array): Promise<LoadedPolicy> {
  const json = readOnnxMetadata(bytes)[TOKENIZER_KEY];
  if (!json) throw new Error('policy bundle has no tokenizer metadata');
  return { policy: await OrtPolicy.load(bytes), tokenizer: Tokenizer.fromJSON(JSON.parse(json) as TokenizerJSON) };
}

/** A small per-process cache of loaded versions, keyed by sha256 (a key is never trusted without its hash). */
export class PolicyCache {
  private readonly loaded = new Map<string, Promise<LoadedPolicy>>();

  constructor(
    private readonly store: ArtifactStore,
    private readonly capacity = 2,
  ) {}

  get(ref: { key: string; sha256: string }): Promise<LoadedPolicy> {
    let entry = this.loaded.get(ref.sha256);
    if (!entry) {
      entry = this.store.get(ref.key, ref.sha256).then(openPolicyBundle);
      entry.catch(() => this.loaded.delete(ref.sha256));
      this.loaded.set(ref.sha256, entry);
      while (this.loaded.size > this.capacity) void this.evict(this.loaded.keys().next().value!);
    }
    return entry;
  }

  /** Release every loaded session (the cache stays usable). */
  async clear(): Promise<void> {
    await Promise.all([...this.loaded.keys()].map((sha256) => this.evict(sha256)));
  }

  /** Forget a version and release its session once it has loaded (a failed load has nothing to release). */
  private evict(sha256: string): Promise<void> {
    const entry = this.loaded.get(sha256)!;
    this.loaded.delete(sha256);
    return entry.then((p) => p.policy.release()).catch(() => undefined);
  }
}
