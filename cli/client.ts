/** A Temporal client for the CLI, against TEMPORAL_ADDRESS or the local dev server. */
import { Client, Connection } from '@temporalio/client';
import { payloadCodecs } from '../common/payload-codec';
import { temporalAddress } from '../infra/services';

export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: temporalAddress(), connectTimeout: '5s' });
  try {
    return await fn(new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE || 'default', dataConverter: { payloadCodecs: payloadCodecs() } }));
  } finally {
    await connection.close();
  }
}
