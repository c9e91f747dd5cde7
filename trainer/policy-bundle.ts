/**
 * Weight sync: the trainer exports its policy to ONNX (tokenizer in the model's metadata, so one artifact and
 * one sha256 describe everything a rollout worker needs) and publishes it as version v. Rollout workers load
 * exactly the version the workflow names, verified by hash, and keep recently used versions in memory.
 */
import { VersionCache } from '../common/version-cache';
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

/** The loaded versions of the built-in policy (two: the one rolling out and the next, during a sync). */
export class PolicyCache {
  private readonly versions: VersionCache<LoadedPolicy>;

  constructor(
    private readonly store: ArtifactStore,
    capacity = 2,
  ) {
    this.versions = new VersionCache(capacity, (p) => p.policy.release());
  }

  get(ref: { key: string; sha256: string }): Promise<LoadedPolicy> {
    return this.versions.get(ref.sha256, () => this.store.get(ref.key, ref.sha256).then(openPolicyBundle));
  }

  /** Release every loaded session (the cache stays usable). */
  clear(): Promise<void> {
    return this.versions.clear();
  }
}
