/** Stop only what global-setup started (a server that was already up is left alone). */
import { stopSystemPostgres } from '../../../infra/postgres';
import { stopByPidFile } from '../../../infra/processes';

export default async function globalTeardown(): Promise<void> {
  const started = ((globalThis as Record<string, unknown>).__ratchetStarted ?? {}) as { temporalPidFile?: string; postgresDataDir?: string };
  if (started.temporalPidFile && !process.env.RATCHET_TEST_KEEP_SERVICES) await stopByPidFile(started.temporalPidFile);
  if (started.postgresDataDir && !process.env.RATCHET_TEST_KEEP_SERVICES) stopSystemPostgres(started.postgresDataDir);
}
