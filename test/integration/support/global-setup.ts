/**
 * One Temporal dev server and one Postgres for the whole integration run, provisioned when absent:
 * - Temporal: the built CLI (in-memory, headless) on port 7244, or RATCHET_TEST_TEMPORAL_ADDRESS;
 * - Postgres: a throwaway Debian cluster on port 25432, or RATCHET_TEST_DATABASE_URL.
 * The workflows are bundled once here; tests pass the bundle to their workers. RATCHET_TEST_DIR (default .data/test)
 * holds the bundle, logs and artifacts, so two runs with their own ports and directories do not collide.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { migrateDatabase, openDatabase } from '../../../db/client';
import { REPO_ROOT } from '../../../infra/paths';
import { ensureSystemPostgres } from '../../../infra/postgres';
import { ensureDevServer, ensureTemporalCli } from '../../../infra/temporal';

/** History events after which the test server suggests continue-as-new. */
export const SUGGEST_CONTINUE_AS_NEW_EVENTS = 400;

export const TEST_DIR = process.env.RATCHET_TEST_DIR ? resolve(process.env.RATCHET_TEST_DIR) : join(REPO_ROOT, '.data', 'test');

export default async function globalSetup(): Promise<void> {
  mkdirSync(TEST_DIR, { recursive: true });
  const started: { temporalPidFile?: string; postgresDataDir?: string } = {};

  let temporalAddress = process.env.RATCHET_TEST_TEMPORAL_ADDRESS;
  if (!temporalAddress) {
    const port = Number(process.env.RATCHET_TEST_TEMPORAL_PORT || 7244);
    const pidFile = join(TEST_DIR, 'temporal.pid');
    const server = await ensureDevServer({
      cli: await ensureTemporalCli(),
      port,
      uiPort: port + 1000,
      headless: true,
      logFile: join(TEST_DIR, 'temporal.log'),
      pidFile,
      // Suggest continue-as-new after ~8 bandit steps, so the tests exercise `continueAsNewSuggested`.
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': SUGGEST_CONTINUE_AS_NEW_EVENTS },
    });
    temporalAddress = server.address;
    if (!server.reused) started.temporalPidFile = pidFile;
  }

  let databaseUrl = process.env.RATCHET_TEST_DATABASE_URL;
  if (!databaseUrl) {
    const port = Number(process.env.RATCHET_TEST_POSTGRES_PORT || 25432);
    const dataDir = join(tmpdir(), `ratchet-test-postgres-${port}`);
    const pg = await ensureSystemPostgres({ dataDir, port, logFile: join(dataDir, 'server.log') });
    databaseUrl = pg.url;
    if (!pg.reused) started.postgresDataDir = dataDir;
  }
  const database = openDatabase(databaseUrl, 1);
  await migrateDatabase(database).finally(() => database.close());

  const bundlePath = join(TEST_DIR, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../../workflows'), logger: quietLogger });
  writeFileSync(bundlePath, code);

  process.env.RATCHET_TEST_TEMPORAL_ADDRESS = temporalAddress;
  process.env.RATCHET_TEST_DATABASE_URL = databaseUrl;
  process.env.RATCHET_TEST_WORKFLOW_BUNDLE = bundlePath;
  process.env.RATCHET_TEST_ARTIFACTS = join(TEST_DIR, 'artifacts');
  (globalThis as Record<string, unknown>).__ratchetStarted = started;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
