/**
 * The artifact store on an S3-compatible server (AWS S3, MinIO, SeaweedFS), for workers that share no disk.
 * Each object is put with `x-amz-checksum-sha256` (the server refuses bytes that arrive damaged) and its hex sha256
 * in the object's metadata; a read hashes the bytes itself and refuses any that differ from the caller's reference,
 * else from that metadata, exactly as LocalArtifactStore does with its sidecar.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { ArtifactIntegrityError, checkKey, sha256, type ArtifactStore, type StoredArtifact } from './artifacts';

/** The metadata field (`x-amz-meta-sha256`) that holds the hex sha256 written with each object. */
export const SHA256_METADATA = 'sha256';

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, '' or ending in '/'. */
  prefix: string;
}

/** `s3://bucket/some/prefix` -> { bucket, prefix: 'some/prefix/' }. */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match) throw new Error(`not an S3 location ${JSON.stringify(url)}: use s3://bucket/prefix`);
  const prefix = match[2].replace(/\/+$/, '');
  if (prefix) checkKey(prefix);
  return { bucket: match[1], prefix: prefix ? `${prefix}/` : '' };
}

export class S3ArtifactStore implements ArtifactStore {
  constructor(
    readonly client: S3Client,
    readonly location: S3Location,
  ) {}

  private objectKey(key: string): string {
    checkKey(key);
    return this.location.prefix + key;
  }

  async put(key: string, data: Uint8Array): Promise<StoredArtifact> {
    const hash = sha256(data);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.location.bucket,
        Key: this.objectKey(key),
        Body: data,
        ChecksumSHA256: Buffer.from(hash, 'hex').toString('base64'),
        Metadata: { [SHA256_METADATA]: hash },
      }),
    );
    return { key, sha256: hash, bytes: data.byteLength };
  }

  async get(key: string, expectedSha256?: string): Promise<Uint8Array> {
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }));
    if (!response.Body) throw new Error(`artifact ${key}: the S3 server returned no body`);
    const data = await response.Body.transformToByteArray();
    const actual = sha256(data);
    const expected = expectedSha256 ?? response.Metadata?.[SHA256_METADATA] ?? actual;
    if (actual !== expected) throw new ArtifactIntegrityError(key, expected, actual);
    return data;
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      // Only a plain 404 means "absent": a denied or unreachable server must not read as a missing object.
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix + prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(this.location.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }
}
