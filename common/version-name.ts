/**
 * The served name of a stored policy version, `<runId>@v<version>`: what `ratchet serve` answers to and what the
 * openai rollout engine (and a vLLM server it loads adapters into) requests. One definition for both sides.
 */
export interface VersionRef {
  runId: string;
  version: number;
}

/** The model name of a stored version: `<runId>@v<version>`. */
export const versionName = (ref: VersionRef) => `${ref.runId}@v${ref.version}`;

const NAME = /^([a-z0-9][a-z0-9-]{0,62})@v(\d{1,9})$/;

/** `<runId>@v<N>` as a version, else undefined. */
export function parseVersionName(name: string): VersionRef | undefined {
  const m = NAME.exec(name);
  return m ? { runId: m[1], version: Number(m[2]) } : undefined;
}
