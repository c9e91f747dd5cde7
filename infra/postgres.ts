/**
 * Postgres for Ratchet: `DATABASE_URL` when set; otherwise the embedded PGlite server (first runs), or a Debian
 * `postgresql` server that the test tooling starts (tests and CI).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect, EMBEDDED_POSTGRES_PORT } from '../db/client';
import { REPO_ROOT } from './paths';
import { startDetached, tsxCommand, waitFor } from './processes';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port?: number;
  logFile: string;
  pidFile: string;
}

/** Start the PGlite socket server unless one answers on the port already; returns its URL. */
export async function ensureEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<{ url: string; reused: boolean }> {
  const port = options.port ?? EMBEDDED_POSTGRES_PORT;
  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
  if (await canConnect(url)) return { url, reused: true };
  const { command, args } = tsxCommand(join(REPO_ROOT, 'infra', 'pglite-server.ts'), [options.dataDir, String(port)]);
  startDetached({ command, args, logFile: options.logFile, pidFile: options.pidFile, cwd: REPO_ROOT });
  await waitFor('the embedded Postgres (PGlite)', () => canConnect(url), 60_000, options.logFile);
  return { url, reused: false };
}

/** The newest Debian postgresql bin folder, or undefined when the package is not installed. */
export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : undefined;
}

export interface SystemPostgresOptions {
  /** A folder the `postgres` user can write when we run as root (e.g. under /tmp). */
  dataDir: string;
  port: number;
  logFile: string;
}

/**
 * Start a throwaway Debian Postgres cluster (trust auth, loopback, fsync off) unless one answers on the port.
 * initdb refuses to run as root, so as root the cluster is owned and run by the `postgres` user.
 */
export async function ensureSystemPostgres(options: SystemPostgresOptions): Promise<{ url: string; reused: boolean }> {
  const url = `postgresql://postgres@127.0.0.1:${options.port}/postgres?sslmode=disable`;
  if (await canConnect(url)) return { url, reused: true };
  const bin = findPostgresBin() ?? installSystemPostgres();
  const asRoot = process.getuid?.() === 0;
  const runAs = (file: string, args: string[]) =>
    asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'pipe' }) : execFileSync(file, args, { stdio: 'pipe' });
  mkdirSync(options.dataDir, { recursive: true });
  if (asRoot) chownSync(options.dataDir, uid('postgres'), gid('postgres'));
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    runAs(join(bin, 'initdb'), ['-D', options.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  }
  const serverOptions = `-p ${options.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  runAs(join(bin, 'pg_ctl'), ['-D', options.dataDir, '-l', join(options.dataDir, 'server.log'), '-o', serverOptions, '-w', '-t', '60', 'start']);
  await waitFor('the test Postgres', () => canConnect(url), 30_000, join(options.dataDir, 'server.log'));
  return { url, reused: false };
}

/** As root on Debian, install the `postgresql` package; otherwise explain what is missing. */
function installSystemPostgres(): string {
  const hasAptGet = existsSync('/usr/bin/apt-get');
  if (process.getuid?.() !== 0 || !hasAptGet) {
    throw new Error('Debian postgresql is not installed: run `apt-get install -y postgresql` (or set RATCHET_TEST_DATABASE_URL / DATABASE_URL)');
  }
  console.log('installing Debian postgresql (apt-get install -y postgresql)');
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const bin = findPostgresBin();
  if (!bin) throw new Error('apt-get installed postgresql but no /usr/lib/postgresql/<version>/bin/pg_ctl was found');
  return bin;
}

export function stopSystemPostgres(dataDir: string): void {
  const bin = findPostgresBin();
  if (!bin || !existsSync(join(dataDir, 'postmaster.pid'))) return;
  const args = ['-D', dataDir, '-m', 'fast', '-w', 'stop'];
  if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args], { stdio: 'pipe' });
  else execFileSync(join(bin, 'pg_ctl'), args, { stdio: 'pipe' });
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}

function gid(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}
