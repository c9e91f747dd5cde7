/** `ratchet report <runId>`: the run's report as one self-contained HTML file, or its data as JSON. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { artifactStoreFromEnv } from '../common/artifact-store-factory';
import { databaseUrl, openDatabase } from '../db/client';
import { dataDir } from '../infra/paths';
import { buildRunReport } from '../report/build';
import { renderHtml } from '../report/html';
import { loadReportRows } from '../report/load';

export interface ReportOptions {
  out?: string;
  json?: boolean;
}

/** Writes the report and returns its path; with `json` and no `out`, prints the JSON instead. */
export async function writeRunReport(runId: string, options: ReportOptions): Promise<string | undefined> {
  const database = openDatabase(databaseUrl(), 2);
  const report = await loadReportRows(database.db, artifactStoreFromEnv(), runId)
    .then(buildRunReport)
    .finally(() => database.close());
  const content = options.json ? JSON.stringify(report, null, 2) + '\n' : renderHtml(report.page);
  if (options.json && !options.out) {
    process.stdout.write(content);
    return undefined;
  }
  const file = resolve(options.out ?? join(dataDir(), 'reports', `${runId}.html`));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}
