/**
 * The services a chaos run owns, so a fault can restart them without touching anyone else's: a Temporal dev server
 * persisted to a SQLite file (a restart keeps every workflow), a Debian Postgres cluster and an embedded PGlite
 * server on their own ports, and an artifact store on a small tmpfs (so "disk full" is a real ENOSPC).
 * Workers run as real processes (workers/{control,cpu,gpu}.ts), one set per database.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { migrateDatabase, openDatabase, type DatabaseHandle } from '../../../db/client';
import { REPO_ROOT } from '../../../infra/paths';
import { ensureEmbeddedPostgres, ensureSystemPostgres, stopSystemPostgres } from '../../../infra/postgres';
import { sleep, stopByPidFile, tsxCommand } from '../../../infra/processes';
import { ensureDevServer, ensureTemporalCli, isTemporalUp } from '../../../infra/temporal';
import { canConnect } from '../../../db/client';
import { stopProcess } from './faults';

export type DatabaseKind = 'postgres' | 'pglite';
export type WorkerPool = 'control' | 'cpu' | 'gpu';
/** When a restarted service was down (stop returned) and when it answered again. */
export interface Restarted {
  stoppedAt: number;
  upAt: number;
}

export interface ChaosStackOptions {
  /** Logs, the Temporal SQLite file, the PGlite data and the tmpfs mount point live here. */
  dir: string;
  temporalPort: number;
  postgresPort: number;
  pglitePort: number;
  /** Size of the artifact tmpfs (default 64 MiB: a bandit run writes well under 1 MiB). */
  artifactBytes?: number;
  log?: (line: string) => void;
}

export class ChaosStack {
  readonly dir: string;
  readonly artifactsDir: string;
  readonly temporalAddress: string;
  readonly databaseUrls: Record<DatabaseKind, string>;
  /** False when tmpfs could not be mounted (not root): the disk-full fault then has nothing real to fill. */
  tmpfs = false;
  client!: Client;
  private connection!: Connection;
  readonly databases = {} as Record<DatabaseKind, DatabaseHandle>;
  private readonly workers = new Map<DatabaseKind, WorkerSet>();
  private cli = '';
  private readonly postgresDataDir: string;
  private readonly log: (line: string) => void;

  private constructor(readonly options: ChaosStackOptions) {
    this.dir = resolve(options.dir);
    this.artifactsDir = join(this.dir, 'artifacts');
    this.temporalAddress = `127.0.0.1:${options.temporalPort}`;
    this.postgresDataDir = join(tmpdir(), `ratchet-chaos-postgres-${options.postgresPort}`);
    this.databaseUrls = {
      postgres: `postgresql://postgres@127.0.0.1:${options.postgresPort}/postgres?sslmode=disable`,
      pglite: `postgresql://postgres:postgres@127.0.0.1:${options.pglitePort}/postgres?sslmode=disable`,
    };
    this.log = options.log ?? (() => undefined);
  }

  /** Start everything fresh; refuses ports that already answer (those services would not be ours to restart). */
  static async open(options: ChaosStackOptions): Promise<ChaosStack> {
    const stack = new ChaosStack(options);
    await stack.start();
    return stack;
  }

  private async start(): Promise<void> {
    if (await isTemporalUp(this.temporalAddress)) throw new Error(`chaos: something already serves Temporal on ${this.temporalAddress}; pick another port`);
    for (const kind of ['postgres', 'pglite'] as const) {
      if (await canConnect(this.databaseUrls[kind])) throw new Error(`chaos: something already serves Postgres at ${this.databaseUrls[kind]}; pick another port`);
    }
    mkdirSync(join(this.dir, 'logs'), { recursive: true });
    rmSync(join(this.dir, 'temporal'), { recursive: true, force: true });
    rmSync(join(this.dir, 'pglite'), { recursive: true, force: true });
    rmSync(this.postgresDataDir, { recursive: true, force: true });
    this.mountArtifacts();
    this.cli = await ensureTemporalCli(this.log);
    await Promise.all([this.startTemporal(), this.startPostgres(), this.startPglite()]);
    this.connection = await Connection.connect({ address: this.temporalAddress });
    this.client = new Client({ connection: this.connection });
    for (const kind of ['postgres', 'pglite'] as const) {
      this.databases[kind] = openDatabase(this.databaseUrls[kind], 2);
      await migrateDatabase(this.databases[kind]);
    }
  }

  // --- services, each restartable ---

  private temporalFiles = () => ({ pidFile: join(this.dir, 'temporal.pid'), logFile: join(this.dir, 'logs', 'temporal.log'), dbFile: join(this.dir, 'temporal', 'temporal.db') });
  private pgliteFiles = () => ({ pidFile: join(this.dir, 'pglite.pid'), logFile: join(this.dir, 'logs', 'pglite.log'), dataDir: join(this.dir, 'pglite') });

  private async startTemporal(): Promise<void> {
    const { pidFile, logFile, dbFile } = this.temporalFiles();
    await ensureDevServer({ cli: this.cli, port: this.options.temporalPort, uiPort: this.options.temporalPort + 1000, headless: true, dbFile, logFile, pidFile });
  }

  private async startPostgres(): Promise<void> {
    await ensureSystemPostgres({ dataDir: this.postgresDataDir, port: this.options.postgresPort, logFile: join(this.postgresDataDir, 'server.log') });
  }

  private async startPglite(): Promise<void> {
    await ensureEmbeddedPostgres({ ...this.pgliteFiles(), port: this.options.pglitePort });
  }

  /** Stop the dev server (SIGTERM), stay down `downMs`, start it again on the same SQLite file. */
  restartTemporal(downMs: number): Promise<Restarted> {
    return this.restart(() => stopByPidFile(this.temporalFiles().pidFile), () => this.startTemporal(), () => isTemporalUp(this.temporalAddress), downMs);
  }

  /** `pg_ctl stop -m fast` (open connections are cut), down `downMs`, start again. */
  restartPostgres(downMs: number): Promise<Restarted> {
    return this.restart(async () => stopSystemPostgres(this.postgresDataDir), () => this.startPostgres(), () => canConnect(this.databaseUrls.postgres), downMs);
  }

  /** SIGTERM the PGlite server (it closes its database), down `downMs`, serve the same data folder again. */
  restartPglite(downMs: number): Promise<Restarted> {
    return this.restart(() => stopByPidFile(this.pgliteFiles().pidFile), () => this.startPglite(), () => canConnect(this.databaseUrls.pglite), downMs);
  }

  /** Stop, wait, start; `upAt` is when the service first answered again (start-up may go on, e.g. namespace settings). */
  private async restart(stop: () => Promise<unknown>, start: () => Promise<void>, answers: () => Promise<boolean>, downMs: number): Promise<Restarted> {
    await stop();
    const stoppedAt = Date.now();
    await sleep(downMs);
    let upAt: number | undefined;
    let starting = true;
    const watch = (async () => {
      while (starting && upAt === undefined) {
        if (await answers()) upAt = Date.now();
        else await sleep(50);
      }
    })();
    try {
      await start();
    } finally {
      starting = false;
      await watch;
    }
    return { stoppedAt, upAt: upAt ?? Date.now() };
  }

  /**
   * Hold an EXCLUSIVE lock on `table` of the Debian Postgres from a session of our own: reads pass, writes wait.
   * A restart while a writer waits lands in the middle of that activity's writes. The restart ends the lock too.
   */
  async lockTable(table: string): Promise<{ blockedWriters(): Promise<number>; release(): Promise<void> }> {
    const client = new PgClient({ connectionString: this.databaseUrls.postgres });
    client.on('error', () => undefined); // the restart cuts this session
    await client.connect();
    await client.query('begin');
    await client.query(`lock table ${client.escapeIdentifier(table)} in exclusive mode`);
    const pool = this.databases.postgres.pool;
    return {
      blockedWriters: async () => {
        const { rows } = await pool.query(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike $1`, [`%"${table}"%`]);
        return rows[0].n as number;
      },
      release: () => client.end().catch(() => undefined),
    };
  }

  // --- the artifact disk ---

  private mountArtifacts(): void {
    this.unmountArtifacts();
    mkdirSync(this.artifactsDir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${this.options.artifactBytes ?? 64 * 2 ** 20}`, 'tmpfs', this.artifactsDir], { stdio: 'pipe' });
      this.tmpfs = true;
    } catch (err) {
      this.log(`chaos: could not mount a tmpfs on ${this.artifactsDir} (${String(err).split('\n')[0]}); disk-full is skipped`);
    }
  }

  private unmountArtifacts(): void {
    const mounted = readFileSync('/proc/mounts', 'utf8').split('\n').some((line) => line.split(' ')[1] === this.artifactsDir);
    if (mounted) execFileSync('umount', [this.artifactsDir], { stdio: 'pipe' });
  }

  private fillerFile = () => join(this.artifactsDir, 'chaos-filler.bin');

  /** Fill the artifact tmpfs to the last byte: from now on every artifact write fails with ENOSPC. */
  fillDisk(): void {
    if (!this.tmpfs) throw new Error('chaos: no tmpfs mounted, cannot fill the artifact disk');
    const fd = openSync(this.fillerFile(), 'a');
    try {
      for (const size of [2 ** 20, 4096, 1]) {
        const chunk = Buffer.alloc(size);
        for (;;) {
          try {
            writeSync(fd, chunk);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  freeDisk(): void {
    rmSync(this.fillerFile(), { force: true });
  }

  // --- workers ---

  /** The worker processes (one per pool) bound to `database`, started on first use with queues of their own. */
  async workersFor(database: DatabaseKind): Promise<WorkerSet> {
    let set = this.workers.get(database);
    if (!set) {
      set = new WorkerSet(this, database);
      this.workers.set(database, set);
    }
    await set.ensureOne();
    return set;
  }

  async close(): Promise<void> {
    for (const set of this.workers.values()) await set.stopAll();
    for (const handle of Object.values(this.databases)) await handle.close().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    await stopByPidFile(this.temporalFiles().pidFile);
    await stopByPidFile(this.pgliteFiles().pidFile);
    try {
      stopSystemPostgres(this.postgresDataDir);
    } catch {
      // already down
    }
    this.freeDisk();
    this.unmountArtifacts();
  }
}

/** The control, cpu and gpu worker processes of one database; a pool may briefly have two (a zombie and its stand-in). */
export class WorkerSet {
  readonly queues: Record<WorkerPool, string>;
  readonly processes: Record<WorkerPool, ChildProcess[]> = { control: [], cpu: [], gpu: [] };
  /** Each process's log file (stdout and stderr). */
  readonly logs = new Map<ChildProcess, string>();
  private started = 0;

  constructor(
    private readonly stack: ChaosStack,
    readonly database: DatabaseKind,
  ) {
    this.queues = { control: `chaos-${database}-control`, cpu: `chaos-${database}-cpu`, gpu: `chaos-${database}-gpu` };
  }

  /** Exactly one live, running process per pool: start what is missing, stop any extra. */
  async ensureOne(): Promise<void> {
    await Promise.all(
      (['control', 'cpu', 'gpu'] as const).map(async (pool) => {
        this.processes[pool] = this.processes[pool].filter((p) => p.exitCode === null && p.signalCode === null);
        // Keep the newest (a zombie's stand-in outlives the zombie).
        for (const older of this.processes[pool].slice(0, -1)) {
          older.kill('SIGCONT');
          await stopProcess(older);
        }
        this.processes[pool] = this.processes[pool].slice(-1);
        this.processes[pool][0]?.kill('SIGCONT');
        if (this.processes[pool].length === 0) await this.start(pool);
      }),
    );
  }

  /** The pool's current (newest) process. */
  current(pool: WorkerPool): ChildProcess {
    const list = this.processes[pool];
    if (!list.length) throw new Error(`chaos: no ${pool} worker running`);
    return list[list.length - 1];
  }

  /** Start one more process of `pool`; resolves when it polls its queue ("worker ready"). Output goes to logs/. */
  async start(pool: WorkerPool): Promise<ChildProcess> {
    const logFile = join(this.stack.dir, 'logs', `${this.database}-${pool}-${++this.started}.log`);
    const { command, args } = tsxCommand(join(REPO_ROOT, 'workers', `${pool}.ts`));
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: this.stack.temporalAddress,
        DATABASE_URL: this.stack.databaseUrls[this.database],
        RATCHET_ARTIFACTS_DIR: this.stack.artifactsDir,
        RATCHET_CONTROL_QUEUE: this.queues.control,
        RATCHET_CPU_QUEUE: this.queues.cpu,
        RATCHET_GPU_QUEUE: this.queues.gpu,
      },
    });
    const log = createWriteStream(logFile);
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    this.processes[pool].push(child);
    this.logs.set(child, logFile);
    let output = '';
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`chaos: ${pool} worker not ready in 120 s; see ${logFile}`)), 120_000);
      child.stdout!.on('data', (chunk) => {
        output += chunk;
        if (output.includes('worker ready')) {
          clearTimeout(timer);
          resolveReady();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`chaos: ${pool} worker exited (${code ?? signal}) before it was ready; see ${logFile}`));
      });
    });
    return child;
  }

  /** SIGKILL the pool's current process (resolves once it is gone). */
  async kill(pool: WorkerPool): Promise<void> {
    await stopProcess(this.current(pool), 'SIGKILL');
    this.processes[pool] = this.processes[pool].filter((p) => p.exitCode === null && p.signalCode === null);
  }

  async stopAll(): Promise<void> {
    const all = Object.values(this.processes).flat();
    for (const p of all) p.kill('SIGCONT');
    await Promise.all(all.map((p) => stopProcess(p)));
    this.processes.control = [];
    this.processes.cpu = [];
    this.processes.gpu = [];
  }
}
