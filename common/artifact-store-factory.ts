/**
 * Which artifact store a process uses, from the environment, so every worker and the CLI agree:
 * RATCHET_ARTIFACTS=s3://bucket/prefix -> the S3-compatible store; RATCHET_ARTIFACTS=<path> -> a local folder;
 * unset -> RATCHET_ARTIFACTS_DIR, else <data dir>/artifacts. For S3 the endpoint is RATCHET_S3_ENDPOINT (else
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL; unset means AWS itself); credentials and region come from the usual AWS_*
 * variables. A custom endpoint gets path-style addressing (MinIO, SeaweedFS have no per-bucket host names).
 */
import { resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { LocalArtifactStore, type ArtifactStore } from './artifacts';
import { artifactsDir } from '../infra/paths';
import { parseS3Url, S3ArtifactStore } from './s3-artifact-store';

type Env = Record<string, string | undefined>;

export function artifactStoreFromEnv(env: Env = process.env): ArtifactStore {
  const where = env.RATCHET_ARTIFACTS?.trim();
  if (where?.startsWith('s3://')) return new S3ArtifactStore(s3ClientFromEnv(env), parseS3Url(where));
  return new LocalArtifactStore(where ? resolve(where) : artifactsDir());
}

export function s3ClientFromEnv(env: Env = process.env): S3Client {
  const endpoint = env.RATCHET_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  return new S3Client({
    endpoint,
    forcePathStyle: Boolean(endpoint),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    // Without keys in `env`, the SDK's default chain (profiles, instance roles) applies.
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN } : undefined,
    // The store sends its own sha256 checksum; the SDK's default CRC32 trailer (aws-chunked) is not understood by
    // every S3-compatible server.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
