/**
 * The artifact store: content the database should not hold (trajectory payloads, checkpoints, exported ONNX
 * policies). Keys are deterministic (`runs/<run>/step-0003/checkpoint.bin`); every object carries its sha256,
 * and a read whose bytes do not match the expected hash is refused. The local-directory store is the default;
 * an S3-compatible store implements the same interface for several machines.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { ARTIFACT_KEY_RULE, isArtifactKey } from './artifact-key';

/** What crosses Temporal and sits in Postgres: an artifact's key and the sha256 every reader verifies. */
export interface ArtifactRef {
  key: string;
  sha256: string;
}

/** What a put returns: the reference and the size written. */
export interface StoredArtifact extends ArtifactRef {
  bytes: number;
}

export interface ArtifactStore {
  /** Write (or overwrite with identical content: puts are idempotent) and return the reference. */
  put(key: string, data: Uint8Array): Promise<StoredArtifact>;
  /** Read; throws ArtifactIntegrityError when the content's sha256 differs from `expectedSha256` or the stored hash. */
  get(key: string, expectedSha256?: string): Promise<Uint8Array>;
  has(key: string): Promise<boolean>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
}

export class ArtifactIntegrityError extends Error {
  constructor(readonly key: string, readonly expected: string, readonly actual: string) {
    super(`artifact ${key}: sha256 ${actual} does not match the expected ${expected}; refusing to load it`);
    this.name = 'ArtifactIntegrityError';
  }
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Write a value as JSON; the reference (without the size) is what travels. */
export async function putJson(store: ArtifactStore, key: string, value: unknown): Promise<ArtifactRef> {
  const { sha256 } = await store.put(key, new TextEncoder().encode(JSON.stringify(value)));
  return { key, sha256 };
}

/** Read JSON by reference; the store refuses content whose sha256 differs from the reference. */
export async function getJson<T>(store: ArtifactStore, ref: ArtifactRef): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await store.get(ref.key, ref.sha256))) as T;
}

export function checkKey(key: string): void {
  if (!isArtifactKey(key)) throw new Error(`invalid artifact key ${JSON.stringify(key)}: use ${ARTIFACT_KEY_RULE}`);
}

/** Objects as files under a root folder, each with a `<file>.sha256` sidecar; writes are atomic (temp + rename). */
export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  private path(key: string): string {
    checkKey(key);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, data: Uint8Array): Promise<StoredArtifact> {
    const file = this.path(key);
    const hash = sha256(data);
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await writeFile(tmp, data);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true }); // a full disk must not keep the partial write: each retry would leak another
      throw err;
    }
    await writeFile(`${file}.sha256`, hash);
    return { key, sha256: hash, bytes: data.byteLength };
  }

  async get(key: string, expectedSha256?: string): Promise<Uint8Array> {
    const file = this.path(key);
    const data = new Uint8Array(await readFile(file));
    const actual = sha256(data);
    const expected = expectedSha256 ?? (await readFile(`${file}.sha256`, 'utf8').catch(() => actual)).trim();
    if (actual !== expected) throw new ArtifactIntegrityError(key, expected, actual);
    return data;
  }

  async has(key: string): Promise<boolean> {
    return stat(this.path(key)).then(
      () => true,
      () => false,
    );
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (!entry.name.endsWith('.sha256') && !entry.name.endsWith('.tmp')) out.push(relative(this.root, full).split(sep).join('/'));
      }
    };
    await walk(this.root);
    return out.filter((key) => key.startsWith(prefix)).sort();
  }
}
