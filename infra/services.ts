/**
 * `ratchet up` / `down`: the local stack on the embedded defaults. Temporal dev server (SQLite in .data/,
 * UI on 8233) and Postgres (DATABASE_URL, else PGlite in .data/pglite). Each reuses a server that is up.
 */
import { join } from 'node:path';
import { databaseUrl, migrateDatabase, openDatabase } from '../db/client';
import { dataDir } from './paths';
import { ensureEmbeddedPostgres } from './postgres';
import { stopByPidFile } from './processes';
import { ensureDevServer, ensureTemporalCli } from './temporal';

export const TEMPORAL_PORT = Number(process.env.RATCHET_TEMPORAL_PORT || 7233);
export const TEMPORAL_UI_PORT = TEMPORAL_PORT + 1000;

const pidFile = (name: string) => join(dataDir(), 'run', `${name}.pid`);
const logFile = (name: string) => join(dataDir(), 'logs', `${name}.log`);

export interface Stack {
  temporalAddress: string;
  databaseUrl: string;
  uiUrl: string;
}

export async function up(log: (line: string) => void = console.log): Promise<Stack> {
  const cli = await ensureTemporalCli(log);
  const temporal = process.env.TEMPORAL_ADDRESS
    ? { address: process.env.TEMPORAL_ADDRESS, reused: true }
    : await ensureDevServer({
        cli,
        port: TEMPORAL_PORT,
        uiPort: TEMPORAL_UI_PORT,
        dbFile: join(dataDir(), 'temporal', 'dev.sqlite'),
        logFile: logFile('temporal'),
        pidFile: pidFile('temporal'),
      });
  log(`temporal: ${temporal.address} (${temporal.reused ? 'already up' : 'started'}), UI http://localhost:${TEMPORAL_UI_PORT}`);

  let url = databaseUrl();
  if (!process.env.DATABASE_URL) {
    const pg = await ensureEmbeddedPostgres({ dataDir: join(dataDir(), 'pglite'), logFile: logFile('pglite'), pidFile: pidFile('pglite') });
    url = pg.url;
    log(`postgres: embedded PGlite at ${url} (${pg.reused ? 'already up' : 'started'})`);
  } else {
    log('postgres: DATABASE_URL');
  }
  const db = openDatabase(url, 1);
  await migrateDatabase(db).finally(() => db.close());
  return { temporalAddress: temporal.address, databaseUrl: url, uiUrl: `http://localhost:${TEMPORAL_UI_PORT}` };
}

/** Stop what `up` started (workers started by `ratchet workers`/`demo` included). */
export async function down(log: (line: string) => void = console.log): Promise<void> {
  for (const name of ['worker-control', 'worker-cpu', 'worker-gpu', 'worker-torch', 'pglite', 'temporal']) {
    if (await stopByPidFile(pidFile(name))) log(`stopped ${name}`);
  }
}

export const servicePidFile = pidFile;
export const serviceLogFile = logFile;
