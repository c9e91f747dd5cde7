/**
 * Connecting to Postgres and applying migrations. One code path for every process: `pg` + drizzle, against
 * `DATABASE_URL` when set, else the embedded PGlite server (`ratchet up` starts it).
 */
import { join } from 'node:path';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { Pool } from 'pg';
import * as schema from './schema';

export type Database = NodePgDatabase<typeof schema>;

export const EMBEDDED_POSTGRES_PORT = 55433;
export const EMBEDDED_DATABASE_URL = `postgresql://postgres:postgres@127.0.0.1:${EMBEDDED_POSTGRES_PORT}/postgres?sslmode=disable`;
const MIGRATIONS_FOLDER = join(__dirname, 'migrations');
/** Any constant: serialises migrations when several workers start at once. */
const MIGRATION_LOCK = 728_341;

export function databaseUrl(): string {
  return process.env.DATABASE_URL || EMBEDDED_DATABASE_URL;
}

export interface DatabaseHandle {
  db: Database;
  pool: Pool;
  close(): Promise<void>;
}

export function openDatabase(url = databaseUrl(), maxConnections = 4): DatabaseHandle {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`DATABASE_URL must start with postgres:// or postgresql://, got ${JSON.stringify(url)}`);
  const pool = new Pool({ connectionString: url, max: maxConnections });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', (err) => console.warn(`postgres pool: ${err.message}`));
  return { db: drizzle(pool, { schema }), pool, close: () => pool.end() };
}

/** Apply the committed drizzle-kit migrations (idempotent; safe when several workers start together). */
export async function migrateDatabase(handle: DatabaseHandle): Promise<void> {
  const client = await handle.pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await migrate(drizzle(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** True when a server answers at `url` within `timeoutMs`. */
export async function canConnect(url: string, timeoutMs = 1000): Promise<boolean> {
  const pool = new Pool({ connectionString: url, max: 1, connectionTimeoutMillis: timeoutMs });
  pool.on('error', () => undefined);
  try {
    await pool.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await pool.end().catch(() => undefined);
  }
}
