/**
 * Recordings' objects in an S3-compatible bucket (@aws-sdk/client-s3; multipart through @aws-sdk/lib-storage for
 * long calls). Each object carries its SHA-256 as user metadata, so a resumed upload skips what is already there
 * and a reader can check what it fetched.
 */
import * as fs from 'node:fs';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export interface S3Options {
  endpoint?: string;
  region: string;
  bucket: string;
  /** Prepended to every key ('' or ending in '/'). */
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style URLs (http://host/bucket/key): what most S3-compatible servers want. */
  forcePathStyle: boolean;
  /** Multipart part size, bytes (≥ 5 MiB, S3's minimum); smaller objects go in one PUT. */
  partSize: number;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = { '.wav': 'audio/wav', '.opus': 'audio/ogg', '.json': 'application/json', '.txt': 'text/plain', '.pcap': 'application/vnd.tcpdump.pcap', '.html': 'text/html' };

function contentType(key: string): string {
  const dot = key.lastIndexOf('.');
  return (dot >= 0 ? CONTENT_TYPES[key.slice(dot)] : undefined) ?? 'application/octet-stream';
}

/**
 * An SDK error in words: a HEAD has no body, so a refused one reaches us as "UnknownError"; its HTTP status says
 * what happened.
 */
export function describeStoreError(e: unknown): string {
  const err = e as { name?: string; message?: string; Code?: string };
  const status = statusOf(e);
  const text = [err.Code ?? err.name, err.message].filter((x) => x !== undefined && x !== '' && x !== 'UnknownError').join(': ');
  if (status === undefined) return text || String(e);
  const why = status === 401 || status === 403 ? 'access denied: check the S3 credentials and the bucket\'s permissions' : status === 404 ? 'not found' : status >= 500 ? 'the object store failed' : 'refused';
  return `${why} (HTTP ${status}${text !== '' ? `, ${text}` : ''})`;
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * The SDK warns on Node 20 that releases after January 2027 will need Node 22. package.json pins the release this
 * project was tested with on Node 20 (exact version, in the lock too), so the warning only adds noise to the CLI.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export class S3Media {
  readonly client: S3Client;

  constructor(readonly o: S3Options) {
    const config: S3ClientConfig = {
      region: o.region,
      forcePathStyle: o.forcePathStyle,
      credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
      // Checksums only where S3 requires them: the SDK's default CRC32 headers are not understood by every
      // S3-compatible server (Swift's s3api among them); integrity is the SHA-256 each object carries.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Retries are the publisher's (with its own backoff), not the SDK's: a store that is down is reported once.
      maxAttempts: 2,
    };
    if (o.endpoint !== undefined) config.endpoint = o.endpoint;
    this.client = new S3Client(config);
  }

  key(rel: string): string {
    return `${this.o.prefix}${rel}`;
  }

  /** Creates the bucket when it does not exist. */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.o.bucket }));
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      await this.client.send(new CreateBucketCommand({ Bucket: this.o.bucket }));
    }
  }

  /** The SHA-256 an object carries, or undefined when there is no such object. */
  async sha256Of(key: string): Promise<string | undefined> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: key }));
      return h.Metadata?.sha256 ?? '';
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Uploads a file unless (with `check`, the default) the object is already there with the same hash: a resumed
   * upload. A first attempt at a new recording skips that question (a HEAD: 40% of a 1 MiB upload's time here).
   * Multipart past one part.
   */
  async putFile(key: string, file: string, sha256: string, check = true): Promise<{ uploaded: boolean; bytes: number }> {
    const bytes = (await fs.promises.stat(file)).size;
    if (check && (await this.sha256Of(key)) === sha256) return { uploaded: false, bytes };
    const up = new Upload({
      client: this.client,
      params: { Bucket: this.o.bucket, Key: key, Body: fs.createReadStream(file), ContentType: contentType(key), Metadata: { sha256 } },
      partSize: this.o.partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await up.done();
    return { uploaded: true, bytes };
  }

  async getBuffer(key: string): Promise<Buffer> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: key }));
    const body = r.Body as { transformToByteArray(): Promise<Uint8Array> } | undefined;
    if (body === undefined) throw new Error(`s3://${this.o.bucket}/${key}: no body`);
    return Buffer.from(await body.transformToByteArray());
  }

  /**
   * One DELETE per key: the batch DeleteObjects needs a Content-MD5 header the SDK no longer sends, which some
   * S3-compatible servers (Swift's s3api) require; replaced recordings have a handful of objects.
   */
  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (const Key of keys) await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key }));
  }

  close(): void {
    this.client.destroy();
  }
}
