import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { s3ClientConfig, startSwift, swiftUnavailable, type SwiftS3 } from './swift';

const unavailable = swiftUnavailable();
if (unavailable !== undefined) console.warn(`\n  [tapline] Swift S3 peer tests skipped: ${unavailable}\n`);
const describeSwift = unavailable === undefined ? describe : describe.skip;

const BUCKET = 'tapline-swift';
const MiB = 1024 * 1024;

/** Pids of processes whose command line mentions `dir` (the servers carry their config path in it). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'latin1').includes(dir)) pids.push(Number(e));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

async function answers(url: string): Promise<boolean> {
  try {
    await (await fetch(url, { signal: AbortSignal.timeout(2000) })).arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

describeSwift('Swift all-in-one with s3api (swift.ts)', function () {
  this.timeout(120_000);
  let swift: SwiftS3;
  let s3: S3Client;
  const small = Buffer.from('hello from tapline\n');
  const big = randomBytes(12 * MiB + 12345);

  async function getBytes(key: string): Promise<{ body: Buffer; metadata: Record<string, string> | undefined }> {
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.ok(r.Body !== undefined);
    return { body: Buffer.from(await r.Body.transformToByteArray()), metadata: r.Metadata };
  }

  before(async () => {
    swift = await startSwift();
    s3 = new S3Client(s3ClientConfig(swift));
  });

  after(async () => {
    s3?.destroy();
    if (swift === undefined) return;
    const dir = swift.dir;
    await swift.destroy();
    assert.deepEqual(processesIn(dir), [], 'a Swift server outlived destroy()');
    assert.equal(fs.existsSync(dir), false);
  });

  it('reads its own swift.conf, not /etc/swift/swift.conf', async () => {
    const info = (await (await fetch(`${swift.endpoint}/info`)).json()) as { swift: { policies: Array<{ name: string }> } };
    assert.deepEqual(
      info.swift.policies.map((p) => p.name),
      ['tapline-test'],
    );
  });

  it('creates a bucket, puts an object with metadata, heads, gets and lists it', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const buckets = await s3.send(new ListBucketsCommand({}));
    assert.ok(buckets.Buckets?.some((b) => b.Name === BUCKET));

    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'calls/small.txt', Body: small, ContentType: 'text/plain', Metadata: { 'call-id': 'abc@host', codec: 'PCMU' } }));
    assert.equal(put.ETag, `"${createHash('md5').update(small).digest('hex')}"`);

    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'calls/small.txt' }));
    assert.equal(head.ContentLength, small.length);
    assert.equal(head.ContentType, 'text/plain');
    assert.deepEqual(head.Metadata, { 'call-id': 'abc@host', codec: 'PCMU' });

    const got = await getBytes('calls/small.txt');
    assert.ok(got.body.equals(small));

    const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'calls/' }));
    assert.deepEqual(
      list.Contents?.map((o) => [o.Key, o.Size]),
      [['calls/small.txt', small.length]],
    );
  });

  it('takes a streamed body (no aws-chunked with requestChecksumCalculation WHEN_REQUIRED)', async () => {
    const body = randomBytes(300_000);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'stream.bin', Body: Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]), ContentLength: body.length }));
    assert.ok((await getBytes('stream.bin')).body.equals(body));
  });

  it('assembles a 12 MiB multipart upload (CreateMultipartUpload, UploadPart, CompleteMultipartUpload)', async () => {
    const key = 'calls/big.bin';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, Metadata: { part: 'manual' } }));
    assert.ok(UploadId !== undefined);
    const parts: Array<{ ETag: string; PartNumber: number }> = [];
    const size = 5 * MiB;
    for (let off = 0, n = 1; off < big.length; off += size, n++) {
      const r = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: n, Body: big.subarray(off, off + size) }));
      assert.ok(r.ETag !== undefined);
      parts.push({ ETag: r.ETag, PartNumber: n });
    }
    assert.equal(parts.length, 3);
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
    assert.match(done.ETag ?? '', /^"[0-9a-f]{32}-3"$/);

    const got = await getBytes(key);
    assert.equal(got.body.length, big.length);
    assert.ok(got.body.equals(big));
    assert.deepEqual(got.metadata, { part: 'manual' });
  });

  it('takes a lib-storage Upload of a stream in parts', async () => {
    const up = new Upload({ client: s3, params: { Bucket: BUCKET, Key: 'calls/lib.bin', Body: Readable.from([big]), Metadata: { part: 'lib-storage' } }, partSize: 5 * MiB, queueSize: 2 });
    await up.done();
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'calls/lib.bin' }));
    assert.equal(head.ContentLength, big.length);
    assert.match(head.ETag ?? '', /-3"$/);
    assert.ok((await getBytes('calls/lib.bin')).body.equals(big));
  });

  it('DeleteObjects needs a Content-MD5 the SDK does not send; added by a middleware it works', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tmp/a', Body: 'a' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tmp/b', Body: 'b' }));
    const input = { Bucket: BUCKET, Delete: { Objects: [{ Key: 'tmp/a' }, { Key: 'tmp/b' }], Quiet: true } };
    await assert.rejects(s3.send(new DeleteObjectsCommand(input)), (e: Error) => e.name === 'InvalidRequest' && /Content-MD5/.test(e.message));

    const cmd = new DeleteObjectsCommand(input);
    // At the build step the XML body is a string and the request is not signed yet.
    cmd.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers?: Record<string, string>; body?: unknown };
        if (req.headers !== undefined && typeof req.body === 'string') req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
        return next(args);
      },
      { step: 'build', name: 'swiftContentMd5' },
    );
    const r = await s3.send(cmd);
    assert.equal(r.Errors, undefined);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'tmp/' }));
    assert.equal(left.KeyCount, 0);
  });

  it('deletes an object', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'stream.bin' }));
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'stream.bin' })), (e: Error) => e.name === 'NotFound');
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'stream.bin' })), (e: Error) => e.name === 'NoSuchKey');
  });

  it('stop() ends every server, start() serves the same data on the same port', async () => {
    const endpoint = swift.endpoint;
    await swift.stop();
    assert.deepEqual(processesIn(swift.dir), []);
    assert.equal(await answers(`${endpoint}/healthcheck`), false);

    await swift.start();
    assert.equal(swift.endpoint, endpoint);
    assert.equal(processesIn(swift.dir).length, 4);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'calls/small.txt' }));
    assert.deepEqual(head.Metadata, { 'call-id': 'abc@host', codec: 'PCMU' });
    assert.ok((await getBytes('calls/small.txt')).body.equals(small));
    assert.ok((await getBytes('calls/big.bin')).body.equals(big));
    const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    assert.deepEqual(
      list.Contents?.map((o) => o.Key),
      ['calls/big.bin', 'calls/lib.bin', 'calls/small.txt'],
    );
  });
});
