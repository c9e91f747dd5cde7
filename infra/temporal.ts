/**
 * The Temporal dev server (`temporal server start-dev`, CLI v1.5.1): find or build the CLI, start it with a
 * persistent SQLite file and the Web UI, register the search attributes and raise the namespace retention.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { RATCHET_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { dataDir, TOOLS_BIN } from './paths';
import { runQuietly } from './quiet-build';
import { startDetached, waitFor } from './processes';

const run = promisify(execFile);

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
/** Keep closed runs auditable for a year (the dev server's default is 24 hours). */
export const RETENTION = '8760h';

/** `temporal` on PATH, else in .tools/bin; undefined when neither exists. */
export function findTemporalCli(): string | undefined {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'temporal')), join(TOOLS_BIN, 'temporal')];
  return candidates.find((file) => existsSync(file));
}

/** Find the CLI or build it with `go install` (minutes the first time); Go's output goes to .data/logs. */
export async function ensureTemporalCli(log: (line: string) => void = console.log): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  const go = await run('go', ['version']).catch(() => undefined);
  if (!go) {
    throw new Error(
      `the Temporal CLI was not found on PATH or in ${TOOLS_BIN}, and Go is not installed to build it. ` +
        `Install Go >= 1.25 (https://go.dev/dl/) or put a temporal v1.5.1 binary on PATH.`,
    );
  }
  log(`building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${TOOLS_BIN} with ${go.stdout.trim()}; this takes a few minutes the first time`);
  mkdirSync(TOOLS_BIN, { recursive: true });
  const started = Date.now();
  // Go names every package it compiles (hundreds): those go to a log, the terminal gets one progress line.
  await runQuietly({
    command: 'go',
    args: ['install', '-v', '-ldflags', '-s -w -X github.com/temporalio/cli/temporalcli.Version=1.5.1', TEMPORAL_CLI_MODULE],
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: TOOLS_BIN },
    logFile: join(dataDir(), 'logs', 'temporal-cli-build.log'),
    label: 'building the Temporal CLI',
  });
  log(`built the Temporal CLI in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return join(TOOLS_BIN, 'temporal');
}

export interface DevServerOptions {
  cli: string;
  port: number;
  uiPort: number;
  /** Persistent SQLite file; omit for an in-memory server (tests). */
  dbFile?: string;
  headless?: boolean;
  namespace?: string;
  logFile: string;
  pidFile: string;
  /** Extra `--dynamic-config-value KEY=JSON` settings. */
  dynamicConfig?: Record<string, unknown>;
  readyTimeoutMs?: number;
}

/** `options`: TLS / API key for a remote cluster (common/temporal-connection.ts); plaintext when left out. */
export async function isTemporalUp(address: string, namespace = 'default', options: Omit<ConnectionOptions, 'address'> = {}): Promise<boolean> {
  return (await temporalProblem(address, namespace, options)) === undefined;
}

/** Why the namespace cannot be reached (refused, TLS, auth, unknown namespace ...), or undefined when it can. */
export async function temporalProblem(address: string, namespace = 'default', options: Omit<ConnectionOptions, 'address'> = {}): Promise<string | undefined> {
  try {
    const connection = await Connection.connect({ ...options, address, connectTimeout: 1000 });
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return undefined;
    } finally {
      await connection.close();
    }
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

/** Start the dev server unless one already answers on the port; either way register attributes and retention. */
export async function ensureDevServer(options: DevServerOptions): Promise<{ address: string; reused: boolean }> {
  const namespace = options.namespace ?? 'default';
  const address = `127.0.0.1:${options.port}`;
  const reused = await isTemporalUp(address, namespace);
  if (!reused) {
    if (options.dbFile) mkdirSync(join(options.dbFile, '..'), { recursive: true });
    const args = [
      'server', 'start-dev',
      '--ip', '127.0.0.1',
      '--port', String(options.port),
      '--namespace', namespace,
      '--log-level', 'warn',
      ...(options.headless ? ['--headless'] : ['--ui-port', String(options.uiPort)]),
      ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
      ...RATCHET_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${cliType(key.type)}`]),
      ...Object.entries(options.dynamicConfig ?? {}).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]),
    ];
    startDetached({ command: options.cli, args, logFile: options.logFile, pidFile: options.pidFile });
    await waitFor('the Temporal dev server', () => isTemporalUp(address, namespace), options.readyTimeoutMs ?? 60_000, options.logFile);
  }
  await configureNamespace(options.cli, address, namespace);
  return { address, reused };
}

/**
 * Search attributes are baked in only when the SQLite file is created, so an existing file may lack newer
 * ones: create what is missing. Then raise the retention so closed runs stay in the UI for a year.
 */
export async function configureNamespace(cli: string, address: string, namespace = 'default'): Promise<void> {
  const common = ['--address', address, '--namespace', namespace];
  const { stdout } = await run(cli, ['operator', 'search-attribute', 'list', ...common, '--output', 'json']);
  const existing = JSON.stringify(JSON.parse(stdout));
  for (const key of RATCHET_SEARCH_ATTRIBUTES) {
    if (!existing.includes(`"${key.name}"`)) {
      await run(cli, ['operator', 'search-attribute', 'create', ...common, '--name', key.name, '--type', cliType(key.type)]);
    }
  }
  await run(cli, ['operator', 'namespace', 'update', ...common, '--retention', RETENTION]);
}

function cliType(type: string): string {
  return type.charAt(0) + type.slice(1).toLowerCase(); // KEYWORD -> Keyword
}
