/**
 * A third-party OpenAI-compatible server for the `openai` rollout engine's tests (issue 31): llama-cpp-python's
 * server, pinned, built from source into its own venv `.tools/llama-venv` (git-ignored; not the torch venv).
 *
 *   npm run setup:llama-server   # build the wheel once into .tools/wheels/, install it with [server] into the venv
 *
 * Built with `-DGGML_NATIVE=OFF`: the default native build crashed here on the first completion (general protection
 * fault in libggml-cpu). One build job (~10 min on one core); the wheel is kept, so a second setup installs in
 * seconds. `startLlamaServer` runs it on a port over a GGUF (optionally one alias per LoRA adapter, see
 * bench/NOTES-llama-server.md) and returns a stop handle.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { findPython, pythonVersion, requirePip, venvPython, VENV_MIN_PYTHON } from './python';
import { isAlive, readPid, startDetached, stopByPidFile, waitFor } from './processes';
import { dataDir, REPO_ROOT } from './paths';

export const LLAMA_CPP_PYTHON_VERSION = '0.3.36';
export const LLAMA_VENV = join(REPO_ROOT, '.tools', 'llama-venv');
/** The built wheel, per build flags: reinstalling from it skips the 10-minute compile. */
export const LLAMA_WHEEL_DIR = join(REPO_ROOT, '.tools', 'wheels', `llama-cpp-python-${LLAMA_CPP_PYTHON_VERSION}-native-off`);
const BUILD_ENV = { CMAKE_ARGS: '-DGGML_NATIVE=OFF', CMAKE_BUILD_PARALLEL_LEVEL: '1' };
/** Every dependency of llama-cpp-python[server], as pip resolved them for 0.3.36 (so a new release cannot drift in). */
export const LLAMA_SERVER_PINS = [
  'typing_extensions==4.16.0',
  'numpy==2.4.6',
  'diskcache==5.6.3',
  'Jinja2==3.1.6',
  'uvicorn==0.55.0',
  'fastapi==0.165.0',
  'pydantic-settings==2.16.3',
  'sse-starlette==3.7.1',
  'starlette-context==0.3.6',
  'PyYAML==6.0.4',
  'annotated-doc==0.0.7',
  'anyio==4.16.0',
  'click==8.5.1',
  'h11==0.16.0',
  'MarkupSafe==3.0.4',
  'opentelemetry-api==1.45.2',
  'pydantic==2.14.4',
  'pydantic_core==2.50.5',
  'python-dotenv==1.2.4',
  'starlette==1.10.0',
  'typing-inspection==0.4.5',
  'annotated-types==0.8.0',
  'idna==3.20',
];
const STAMP = '.ratchet-stamp.json';

interface Stamp {
  version: string;
  pins: string[];
  python: string;
}

function run(command: string, args: string[], opts: SpawnSyncOptions = {}) {
  return spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}

export interface LlamaServerStatus {
  ready: boolean;
  python: string;
  reason?: string;
}

/** Whether the venv holds this version with these pins (reads the stamp; runs the interpreter once). */
export function llamaServerStatus(venv = LLAMA_VENV): LlamaServerStatus {
  const python = venvPython(venv);
  if (!existsSync(python)) return { ready: false, python, reason: `no venv at ${venv}` };
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(join(venv, STAMP), 'utf8')) as Stamp;
  } catch {
    return { ready: false, python, reason: 'the venv was not finished (no stamp)' };
  }
  if (stamp.version !== LLAMA_CPP_PYTHON_VERSION || stamp.pins.join(' ') !== LLAMA_SERVER_PINS.join(' ')) {
    return { ready: false, python, reason: `the venv holds llama-cpp-python ${stamp.version} with other pins` };
  }
  if (!pythonVersion(python)) return { ready: false, python, reason: `${python} does not run (its base interpreter moved?)` };
  return { ready: true, python };
}

/** The cached wheel for this interpreter (`cp311` in its name, or `py3-none`: the ctypes bindings fit any CPython 3), if built. */
function cachedWheel(python: [number, number, number]): string | undefined {
  if (!existsSync(LLAMA_WHEEL_DIR)) return undefined;
  const tags = [`-cp${python[0]}${python[1]}-`, '-py3-none-'];
  const file = readdirSync(LLAMA_WHEEL_DIR).find((f) => f.startsWith(`llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}-`) && tags.some((t) => f.includes(t)) && f.endsWith('.whl'));
  return file && join(LLAMA_WHEEL_DIR, file);
}

/** Create or update `.tools/llama-venv`; a no-op when its stamp matches. Builds the wheel when none is cached. */
export function setupLlamaServer(opts: { force?: boolean; log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {}): { python: string; created: boolean; seconds: number } {
  const log = opts.log ?? ((line: string) => console.log(line));
  const env = opts.env ?? process.env;
  const started = Date.now();
  const status = llamaServerStatus();
  if (status.ready && !opts.force) {
    log(`llama-cpp-python ${LLAMA_CPP_PYTHON_VERSION} is installed in ${LLAMA_VENV}`);
    return { python: status.python, created: false, seconds: 0 };
  }
  const base = findPython({ env, minVersion: VENV_MIN_PYTHON, purpose: 'npm run setup:llama-server' });
  requirePip(base, env, 'npm run setup:llama-server');
  const pipEnv = { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  let wheel = cachedWheel(base.version);
  if (!wheel) {
    log(`building llama-cpp-python ${LLAMA_CPP_PYTHON_VERSION} from source with ${BUILD_ENV.CMAKE_ARGS}, one job (about 10 minutes)`);
    mkdirSync(LLAMA_WHEEL_DIR, { recursive: true });
    // --no-cache-dir: pip's built-wheel cache is keyed by the sdist, not by CMAKE_ARGS, so it could hand back a native build.
    const built = run(base.path, ['-m', 'pip', 'wheel', '--no-cache-dir', '--no-deps', '--no-binary', 'llama-cpp-python', '-w', LLAMA_WHEEL_DIR, `llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION}`], {
      env: { ...pipEnv, ...BUILD_ENV },
      stdio: 'inherit',
    });
    wheel = cachedWheel(base.version);
    if (built.status !== 0 || !wheel) throw new Error(`building the llama-cpp-python wheel failed (exit ${built.status}); a C++ compiler and cmake are needed (Debian: apt-get install build-essential cmake)`);
  } else log(`reusing the built wheel ${wheel}`);
  log(`creating ${LLAMA_VENV}${status.reason ? ` (${status.reason})` : ''}`);
  rmSync(LLAMA_VENV, { recursive: true, force: true });
  if (run(base.path, ['-m', 'venv', LLAMA_VENV], { env, stdio: 'inherit' }).status !== 0) throw new Error(`python -m venv ${LLAMA_VENV} failed (Debian: apt-get install python3-venv)`);
  const python = venvPython(LLAMA_VENV);
  const install = run(python, ['-m', 'pip', 'install', '--only-binary', ':all:', `${wheel}[server]`, ...LLAMA_SERVER_PINS], { env: pipEnv, stdio: 'inherit' });
  if (install.status !== 0) throw new Error(`pip install ${wheel}[server] failed (exit ${install.status})`);
  const check = run(python, ['-c', 'import llama_cpp, llama_cpp.server.app; print(llama_cpp.__version__)'], { env });
  if (check.status !== 0 || String(check.stdout).trim() !== LLAMA_CPP_PYTHON_VERSION) throw new Error(`the llama venv does not import llama_cpp.server: ${String(check.stderr || check.stdout).trim()}`);
  const stamp: Stamp = { version: LLAMA_CPP_PYTHON_VERSION, pins: LLAMA_SERVER_PINS, python: base.version.join('.') };
  writeFileSync(join(LLAMA_VENV, STAMP), JSON.stringify(stamp, null, 2) + '\n');
  const seconds = (Date.now() - started) / 1000;
  log(`llama-cpp-python ${LLAMA_CPP_PYTHON_VERSION} server ready in ${seconds.toFixed(0)} s`);
  return { python, created: true, seconds };
}

/** One model the server offers under `alias` (the request's `model` field): the base GGUF, with a LoRA GGUF or not. */
export interface LlamaServerModel {
  alias: string;
  /** A LoRA adapter in llama.cpp's GGUF format (convert_lora_to_gguf.py), applied on top of the base at load. */
  loraPath?: string;
}

export interface LlamaServerOptions {
  /** The base model's GGUF file. */
  gguf: string;
  /** Default: a free port. */
  port?: number;
  /** Aliases to serve (default: one, `base`, no adapter). The first is the default model. */
  models?: LlamaServerModel[];
  /** Context window (default 2048). With logits_all the server keeps an [n_ctx, vocab] float32 array: 400 MB at 2048. */
  contextSize?: number;
  /** Decode threads (default 1: the cores are shared); prompt threads are every core. */
  threads?: number;
  /**
   * Prompt tokens evaluated per batch (llama.cpp's n_batch). Default 1: every token is then evaluated alone whether
   * the server reuses a cached prefix or not, so a prompt's log-probs do not depend on the request before it (with
   * 512 a repeated request moved them by up to 0.15 nats).
   */
  nBatch?: number;
  /** Where the config, log and pid files go (default .data/llama-server/<port>/). */
  dir?: string;
  readyTimeoutMs?: number;
}

export interface LlamaServer {
  /** `http://127.0.0.1:<port>/v1`: the OpenAI client's baseURL. */
  baseUrl: string;
  port: number;
  pid: number;
  logFile: string;
  configFile: string;
  stop(): Promise<void>;
}

/**
 * Start the server from a config file (server and per-alias model settings, `logits_all: true`) and wait until
 * `/v1/models` answers. A server left running from an earlier start in the same folder is stopped first.
 */
export async function startLlamaServer(opts: LlamaServerOptions): Promise<LlamaServer> {
  const status = llamaServerStatus();
  if (!status.ready) throw new Error(`the llama-cpp-python server is not installed (${status.reason}): run \`npm run setup:llama-server\``);
  const gguf = resolve(opts.gguf);
  if (!existsSync(gguf)) throw new Error(`llama server: no model file ${gguf}`);
  const models = opts.models ?? [{ alias: 'base' }];
  if (!models.length) throw new Error('llama server: no models to serve');
  for (const m of models) if (m.loraPath && !existsSync(m.loraPath)) throw new Error(`llama server: no LoRA file ${m.loraPath} (alias ${m.alias})`);
  const port = opts.port ?? (await freePort());
  const dir = resolve(opts.dir ?? join(dataDir(), 'llama-server', String(port)));
  mkdirSync(dir, { recursive: true });
  const pidFile = join(dir, 'server.pid');
  await stopByPidFile(pidFile);
  const configFile = join(dir, 'config.json');
  const logFile = join(dir, 'server.log');
  const config = {
    host: '127.0.0.1',
    port,
    models: models.map((m) => ({
      model: gguf,
      model_alias: m.alias,
      lora_path: m.loraPath ? resolve(m.loraPath) : null,
      logits_all: true,
      n_ctx: opts.contextSize ?? 2048,
      n_threads: opts.threads ?? 1,
      n_batch: opts.nBatch ?? 1,
      verbose: false,
    })),
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  rmSync(logFile, { force: true });
  const pid = startDetached({ command: status.python, args: ['-m', 'llama_cpp.server', '--config_file', configFile], logFile, pidFile, cwd: dir });
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  const stop = async () => {
    await stopByPidFile(pidFile);
  };
  try {
    await waitFor(
      `the llama-cpp-python server on port ${port}`,
      async () => {
        if (!isAlive(pid)) throw new Error(`the llama-cpp-python server exited at start:\n${logTail(logFile)}`);
        try {
          return (await fetch(`${baseUrl}/models`, { signal: AbortSignal.timeout(2000) })).ok;
        } catch {
          return false;
        }
      },
      opts.readyTimeoutMs ?? 60_000,
      logFile,
    );
  } catch (err) {
    if (readPid(pidFile) === pid) await stop();
    throw err;
  }
  return { baseUrl, port, pid, logFile, configFile, stop };
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => ok(port));
    });
  });
}

function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

if (require.main === module) {
  const command = process.argv[2] ?? 'setup';
  try {
    if (command === 'setup') {
      const started = Date.now();
      setupLlamaServer({ force: process.argv.includes('--force') });
      console.log(`setup:llama-server took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    } else if (command === 'status') console.log(JSON.stringify(llamaServerStatus(), null, 2));
    else throw new Error(`unknown command "${command}" (setup [--force] | status)`);
  } catch (err) {
    console.error(`llama-server: ${(err as Error).message}`);
    process.exit(1);
  }
}
