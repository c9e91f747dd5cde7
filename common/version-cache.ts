/**
 * A small per-process cache of loaded policy versions, keyed by the artifact's sha256 (a key is never trusted
 * without its hash). Beyond `capacity` the oldest is forgotten and released once it has loaded (a failed load is
 * forgotten at once and has nothing to release).
 */
export class VersionCache<T> {
  private readonly loaded = new Map<string, Promise<T>>();

  constructor(
    private readonly capacity: number,
    private readonly release: (value: T) => Promise<void>,
  ) {}

  get(sha256: string, load: () => Promise<T>): Promise<T> {
    let entry = this.loaded.get(sha256);
    if (!entry) {
      entry = load();
      entry.catch(() => this.loaded.delete(sha256));
      this.loaded.set(sha256, entry);
      while (this.loaded.size > this.capacity) void this.evict(this.loaded.keys().next().value!);
    }
    return entry;
  }

  /** Release every loaded version (the cache stays usable). */
  async clear(): Promise<void> {
    await Promise.all([...this.loaded.keys()].map((sha256) => this.evict(sha256)));
  }

  private evict(sha256: string): Promise<void> {
    const entry = this.loaded.get(sha256)!;
    this.loaded.delete(sha256);
    return entry.then(this.release).catch(() => undefined);
  }
}
