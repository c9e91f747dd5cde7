/**
 * The embedded Postgres: PGlite (Postgres compiled to WASM) with its data in a folder, served over the Postgres
 * wire protocol so every process uses the same `pg` + drizzle code as against a real server.
 * Usage: node --import tsx infra/pglite-server.ts <dataDir> <port>
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

async function main(): Promise<void> {
  const [dir, portText] = process.argv.slice(2);
  const port = Number(portText);
  if (!dir || !Number.isInteger(port)) throw new Error('usage: pglite-server.ts <dataDir> <port>');
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 64 });
  await server.start();
  console.log(`pglite: serving ${dir} on 127.0.0.1:${port}`);
  const shutdown = async () => {
    await server.stop();
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
