/**
 * `ratchet setup`: make a namespace on any cluster ready for training runs: register it when missing, add the
 * Ratchet search attributes it lacks, and set the retention. Idempotent: a second run changes nothing.
 *
 * Done through the SDK's operator and workflow services on the same connection as every other command (so TLS,
 * mTLS and API keys work alike, and no `temporal` binary or credentials on a command line are needed), rather
 * than by driving the `temporal` CLI.
 */
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { Command } from 'commander';
import { temporalTarget } from '../common/temporal-connection';
import { RETENTION } from '../infra/temporal';
import { RATCHET_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/** The dev server's retention (a year; its default is 24 hours), in days. */
export const RETENTION_DAYS = Number.parseInt(RETENTION, 10) / 24;

export interface SetupReport {
  namespaceRegistered: boolean;
  attributesAdded: string[];
  retentionDays: number;
  retentionChanged: boolean;
}

const { IndexedValueType } = temporal.api.enums.v1;
const GRPC_NOT_FOUND = 5;

export async function setUpNamespace(connection: Connection, namespace: string, retentionDays = RETENTION_DAYS): Promise<SetupReport> {
  const retentionSeconds = retentionDays * 86_400;
  const namespaceRegistered = await registerIfMissing(connection, namespace, retentionSeconds);
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = RATCHET_SEARCH_ATTRIBUTES.filter((key) => !(key.name in (customAttributes ?? {})));
  if (missing.length) {
    const searchAttributes = Object.fromEntries(missing.map((key) => [key.name, IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]]));
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  }
  const described = await connection.workflowService.describeNamespace({ namespace });
  const current = Number(described.config?.workflowExecutionRetentionTtl?.seconds ?? 0);
  const retentionChanged = current !== retentionSeconds;
  if (retentionChanged) {
    await connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(retentionSeconds * 1000) } });
  }
  return { namespaceRegistered, attributesAdded: missing.map((key) => key.name), retentionDays, retentionChanged };
}

async function registerIfMissing(connection: Connection, namespace: string, retentionSeconds: number): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (err) {
    if ((err as { code?: number }).code !== GRPC_NOT_FOUND) throw err;
  }
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionSeconds * 1000) });
  // A new namespace reaches the frontend's namespace cache a few seconds after it is registered.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await connection.operatorService.listSearchAttributes({ namespace });
      return true;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export function describeSetup(namespace: string, address: string, report: SetupReport): string {
  const changes = [
    report.namespaceRegistered ? 'registered the namespace' : undefined,
    report.attributesAdded.length ? `added search attributes ${report.attributesAdded.join(', ')}` : undefined,
    report.retentionChanged ? `set retention to ${report.retentionDays} days` : undefined,
  ].filter(Boolean);
  return `namespace ${namespace} on ${address}: ${changes.length ? changes.join('; ') : `already set up (${RATCHET_SEARCH_ATTRIBUTES.length} search attributes, retention ${report.retentionDays} days)`}`;
}

export function registerSetupCommand(program: Command): void {
  program
    .command('setup')
    .description('register the namespace if missing, the Ratchet search attributes and the retention on the cluster (idempotent)')
    .option('--retention-days <days>', 'how long closed runs are kept', String(RETENTION_DAYS))
    .action(async (options: { retentionDays: string }) => {
      const retentionDays = Number(options.retentionDays);
      if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error(`--retention-days must be a whole number of days >= 1, got ${options.retentionDays}`);
      const target = temporalTarget();
      const connection = await Connection.connect({ ...target.connectionOptions, connectTimeout: '10s' });
      try {
        console.log(describeSetup(target.namespace, target.address, await setUpNamespace(connection, target.namespace, retentionDays)));
      } finally {
        await connection.close();
      }
    });
}
