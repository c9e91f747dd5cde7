/**
 * An LLM policy version rolled out by inference servers (`agent.policy.rollout.engine: openai`): the player
 * trainer/llm-rollout.ts takes in place of an in-process LoadedLlmPolicy. Nothing of the version is loaded here
 * (no 650 MB graph): the servers are synced to the version (policy/llm/server-sync.ts) and checked
 * (policy/llm/server-preflight.ts), and the version's replies are requested by its served name.
 *
 * `ServedPolicies` keeps, per process, one engine (clients) and tokenizer per settings and model. Each rollout
 * re-reads every server's models and loads what is missing (a restarted server gets its version back); the probe
 * runs once per server and served name in a process (a failed one again at the retry).
 */
import type { GenerateOptions, Generation } from '../generate';
import { llmModelFacts } from './llm-policy';
import { resolveModelRef } from './models';
import { OpenAiEngine, type OpenAiRollout } from './openai-engine';
import { baseModelOf, probeServer, type PreflightOptions } from './server-preflight';
import { servedModelName, syncServer } from './server-sync';
import { loadLlmTokenizer, type LlmTokenizer } from './tokenizer';

export class ServedLlmPolicy {
  constructor(
    private readonly engine: OpenAiEngine,
    readonly tokenizer: LlmTokenizer,
    /** The name each server serves the version under, by server. */
    readonly models: readonly string[],
  ) {}

  get contextLength(): number {
    return this.engine.contextLength;
  }

  /** Sample replies; stops default to the tokenizer's end-of-turn / eos IDs, as LoadedLlmPolicy's. */
  async generate(prompts: number[][], opts: GenerateOptions): Promise<Generation[]> {
    return this.engine.generate(this.models, prompts, { ...opts, stopTokens: opts.stopTokens ?? [...this.tokenizer.stopIds] });
  }

  /** Nothing is held in this process: the servers hold the version. */
  using<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}

export class ServedPolicies {
  private readonly engines = new Map<string, { engine: OpenAiEngine; tokenizer: LlmTokenizer }>();
  private readonly probed = new Map<string, Promise<void>>();

  /** Version `version` of the run, synced to every server and checked there. */
  async get(settings: OpenAiRollout, modelRef: string, runId: string, version: number, opts: PreflightOptions): Promise<ServedLlmPolicy> {
    const { engine, tokenizer } = this.engineFor(settings, modelRef);
    const probe = tokenizer.encode('Hello');
    const models = await Promise.all(
      engine.servers.map(async (server, i) => {
        // Every rollout re-reads the server (one GET /models), so a server restarted mid-version is reloaded.
        const base = await baseModelOf(engine, i, opts);
        await syncServer(server, settings, runId, version);
        const name = servedModelName(settings, runId, version, base);
        await this.probeOnce(`${JSON.stringify(settings)}/${server.baseUrl}/${name}`, () => probeServer(engine, i, name, probe, opts));
        return name;
      }),
    );
    return new ServedLlmPolicy(engine, tokenizer, models);
  }

  /** Probe a (server, served name) once per process; a failed probe is forgotten, so a retry probes again. */
  private probeOnce(key: string, probe: () => Promise<void>): Promise<void> {
    let entry = this.probed.get(key);
    if (!entry) {
      entry = probe();
      entry.catch(() => this.probed.delete(key));
      this.probed.set(key, entry);
    }
    return entry;
  }

  private engineFor(settings: OpenAiRollout, modelRef: string) {
    const key = `${JSON.stringify(settings)}/${modelRef}`;
    let entry = this.engines.get(key);
    if (!entry) {
      const model = resolveModelRef(modelRef);
      const tokenizer = loadLlmTokenizer(model);
      entry = { engine: new OpenAiEngine(settings, tokenizer, llmModelFacts(model).contextLength), tokenizer };
      this.engines.set(key, entry);
    }
    return entry;
  }
}
