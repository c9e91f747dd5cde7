/** A Temporal client for the CLI: the cluster, namespace, TLS and API key of common/temporal-connection.ts. */
import { Client, Connection } from '@temporalio/client';
import { payloadCodecs } from '../common/payload-codec';
import { temporalTarget } from '../common/temporal-connection';

export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const { connectionOptions, namespace } = temporalTarget();
  const connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' });
  try {
    return await fn(new Client({ connection, namespace, dataConverter: { payloadCodecs: payloadCodecs() } }));
  } finally {
    await connection.close();
  }
}
