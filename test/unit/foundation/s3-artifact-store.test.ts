/**
 * The store choice and the S3 store's key rules, without a server: RATCHET_ARTIFACTS picks s3:// or a folder,
 * a custom endpoint gets path-style addressing, and a bad key is refused before any request is sent.
 * (Round trips and tamper detection run against a real server in test/integration/s3-store.test.ts.)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '../../../common/artifacts';
import { artifactStoreFromEnv, s3ClientFromEnv } from '../../../common/artifact-store-factory';
import { parseS3Url, S3ArtifactStore } from '../../../common/s3-artifact-store';

describe('parseS3Url', () => {
  it('splits bucket and prefix, normalising the prefix to end in /', () => {
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('s3://bucket/')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('s3://bucket/team/ratchet/')).toEqual({ bucket: 'bucket', prefix: 'team/ratchet/' });
  });

  it('refuses other schemes and prefixes that break the key rule', () => {
    expect(() => parseS3Url('/data/artifacts')).toThrow(/s3:\/\/bucket\/prefix/);
    expect(() => parseS3Url('s3://bucket/a/../b')).toThrow(/invalid artifact key/);
  });
});

describe('artifactStoreFromEnv', () => {
  it('uses a local folder for a path, and RATCHET_ARTIFACTS_DIR when unset', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-factory-'));
    const fromPath = artifactStoreFromEnv({ RATCHET_ARTIFACTS: dir });
    expect(fromPath).toBeInstanceOf(LocalArtifactStore);
    expect((fromPath as LocalArtifactStore).root).toBe(dir);
    const saved = process.env.RATCHET_ARTIFACTS_DIR;
    process.env.RATCHET_ARTIFACTS_DIR = join(dir, 'fallback');
    try {
      expect((artifactStoreFromEnv({}) as LocalArtifactStore).root).toBe(join(dir, 'fallback'));
    } finally {
      if (saved === undefined) delete process.env.RATCHET_ARTIFACTS_DIR;
      else process.env.RATCHET_ARTIFACTS_DIR = saved;
    }
  });

  it('uses the S3 store for s3://, with the endpoint path-style and the keys from the environment', async () => {
    const env = { RATCHET_ARTIFACTS: 's3://ratchet/runs-a', RATCHET_S3_ENDPOINT: 'http://127.0.0.1:1', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' };
    const store = artifactStoreFromEnv(env);
    expect(store).toBeInstanceOf(S3ArtifactStore);
    expect((store as S3ArtifactStore).location).toEqual({ bucket: 'ratchet', prefix: 'runs-a/' });
    const client = s3ClientFromEnv(env);
    expect(client.config.forcePathStyle).toBe(true);
    expect(await client.config.credentials()).toMatchObject({ accessKeyId: 'k', secretAccessKey: 's' });
    expect(s3ClientFromEnv({ AWS_REGION: 'eu-west-1' }).config.forcePathStyle).toBe(false);
  });

  it('refuses a bad key before sending anything', async () => {
    // Port 1 refuses connections: reaching the network would fail differently.
    const store = artifactStoreFromEnv({ RATCHET_ARTIFACTS: 's3://ratchet', RATCHET_S3_ENDPOINT: 'http://127.0.0.1:1', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' });
    await expect(store.put('../escape', new Uint8Array([1]))).rejects.toThrow(/invalid artifact key/);
    await expect(store.get('a//b')).rejects.toThrow(/invalid artifact key/);
    await expect(store.has('./x')).rejects.toThrow(/invalid artifact key/);
  });
});
