/**
 * `ratchet serve --run <runId> [--policy-version N] [--port 8000]`: an OpenAI-compatible server (vLLM's wire format)
 * over the run's stored policy versions, built-in or LLM (serve/). Model names: `<runId>` (the pinned version, else
 * the newest at each request) and `<runId>@v<N>` for every stored version; versions load from the artifact store on
 * demand. The pin is `--policy-version N` or `--run <runId>@v<N>`: `--version` is the program's own flag.
 */
import type { Command } from 'commander';
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { ServedModels } from '../serve/models';
import { parseVersionName, PolicyStore, versionName } from '../serve/policy-store';
import { gatewayPolicy, startGateway } from '../serve/gateway';
import { startServer } from '../serve/server';

interface ServeFlags {
  run: string;
  policyVersion?: string;
  port: string;
  host: string;
  model?: string;
  threads?: string;
  maxLoaded?: string;
  awaitRun?: boolean;
}

function nonNegativeInt(flag: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`serve: ${flag} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description("serve a run's stored policy versions over an OpenAI-compatible API (/v1/models, /v1/completions, /v1/chat/completions, vLLM's LoRA endpoints)")
    .requiredOption('--run <runId>', 'the run whose policy versions to serve (<runId>@v<N> also pins version N)')
    .option('--policy-version <n>', 'the version the model name <runId> stands for (default: the newest, at each request)')
    .option('--port <port>', 'port to listen on', '8000')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--model <ref>', "the LLM the run's graphs belong to, for a run with no stored config (default: the run's agent.policy)")
    .option('--threads <n>', 'onnxruntime threads of an LLM session (default: every core)')
    .option('--max-loaded <n>', 'policy versions kept loaded (default 4 built-in, 1 LLM)')
    .option('--await-run', 'start before the run has published a version (a training run rolling out through this server)')
    .action(async (flags: ServeFlags) => {
      const port = nonNegativeInt('--port', flags.port);
      const named = parseVersionName(flags.run);
      const runId = named?.runId ?? flags.run;
      const pinned = flags.policyVersion === undefined ? named?.version : nonNegativeInt('--policy-version', flags.policyVersion);
      const maxLoaded = flags.maxLoaded === undefined ? undefined : Math.max(1, nonNegativeInt('--max-loaded', flags.maxLoaded));
      const policies = new PolicyStore(artifactStoreFromEnv(), {
        model: flags.model,
        llmThreads: flags.threads === undefined ? undefined : Math.max(1, nonNegativeInt('--threads', flags.threads)),
        builtinCapacity: maxLoaded,
        llmCapacity: maxLoaded,
      });
      const versions = await policies.versions(runId);
      if (versions.length === 0 && !flags.awaitRun) throw new Error(`serve: run "${runId}" has no stored policy versions in the artifact store (RATCHET_ARTIFACTS / RATCHET_ARTIFACTS_DIR); --await-run serves them as the run publishes them`);
      if (pinned !== undefined && !versions.includes(pinned)) throw new Error(`serve: run "${runId}" has no version ${pinned} (stored: ${versions.join(', ') || 'none'})`);
      // Load the newest version now: a run that cannot be served fails here, not at its first request.
      const base = versions.length ? { runId, version: pinned ?? versions[versions.length - 1] } : undefined;
      const kind = base ? (await policies.load(base)).kind : 'not yet known';
      const server = await startServer({ models: new ServedModels(policies, runId, pinned), policies }, { port, host: flags.host, log: (line) => console.error(line) });
      console.log(
        `ratchet serve: run ${runId} (${kind} policy, versions ${versions.map((v) => `v${v}`).join(' ') || 'none yet'}); ` +
          `model "${runId}" = ${base && pinned !== undefined ? versionName(base) : 'the newest version'}, or "<run>@v<N>"; OpenAI base URL ${server.url}/v1`,
      );
      const stop = () => void server.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  // `ratchet gateway` sits with serve: it is the proxy in front of a served policy.
  registerGatewayCommand(program);
}

interface GatewayFlags {
  upstream: string;
  model?: string;
  policyVersion?: string;
  port: string;
  host: string;
  out?: string;
  claimTimeout: string;
}

/**
 * `ratchet gateway --upstream <base URL> --model <run>@v<N>`: the OpenAI-compatible proxy an external agent points its
 * base_url at (serve/gateway.ts); each episode's calls are recorded with their exact token IDs and log-probs and
 * become a trajectory when the agent posts its reward.
 */
function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('an OpenAI-compatible proxy for your own agent: forwards calls to a policy server and records each episode (x-ratchet-episode) as a trajectory')
    .requiredOption('--upstream <url>', 'the policy server\'s OpenAI base URL (ratchet serve, vLLM), e.g. http://127.0.0.1:8000/v1')
    .option('--model <name>', 'the model free episodes\' calls go to: <run>@v<N> names its version (POST /v1/gateway/policy moves it); a training run\'s claimed episodes go to the version it names')
    .option('--policy-version <n>', 'the policy version --model is, when its name does not say')
    .option('--port <port>', 'port to listen on', '8100')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--out <file>', 'JSONL file each finished episode is appended to, and read back at start (a restarted gateway keeps its finished episodes)')
    .option('--claim-timeout <seconds>', 'a claimed run episode with no call for this long is handed out again', '120')
    .action(async (flags: GatewayFlags) => {
      const version = flags.policyVersion === undefined ? undefined : nonNegativeInt('--policy-version', flags.policyVersion);
      let policy;
      try {
        policy = flags.model === undefined ? undefined : gatewayPolicy(flags.model, version);
      } catch (err) {
        throw new Error(`gateway: ${(err as Error).message}`);
      }
      const claimTimeoutMs = nonNegativeInt('--claim-timeout', flags.claimTimeout) * 1000;
      const upstream = flags.upstream.replace(/\/+$/, '');
      // With a policy of its own, refuse an upstream that does not answer now, not at the agent's first call; runs
      // that hand out episodes probe their version themselves (the upstream may come up with the run).
      if (policy) {
        const models = await fetch(`${upstream}/models`).catch((err: Error) => {
          throw new Error(`gateway: the upstream ${upstream}/models did not answer (${err.message}); is the policy server running?`);
        });
        if (!models.ok) throw new Error(`gateway: the upstream ${upstream}/models answered ${models.status}`);
      }
      const gateway = await startGateway({ upstream, policy, out: flags.out, claimTimeoutMs, port: nonNegativeInt('--port', flags.port), host: flags.host, log: (line) => console.error(line) });
      const free = policy ? `free episodes' calls go to ${upstream} as ${policy.model} (version ${policy.version})` : `run episodes only (upstream ${upstream})`;
      console.log(`ratchet gateway: ${free}; agents' OpenAI base URL ${gateway.url}/v1`);
      const stop = () => void gateway.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
