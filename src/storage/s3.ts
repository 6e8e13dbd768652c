import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type StorageClass,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import {
  assertValidPath,
  PathNotFoundError,
  StorageUnavailableError,
  type ByteRange,
  type FileInfo,
  type FileWriter,
  type StorageDriver,
  type WriterState,
} from "./driver";
import type { S3Bucket } from "./s3-bucket";
import { nameOf, statusOf, translateError } from "./s3-errors";
import { MultipartAssembler, MAX_PART_SIZE, MIN_PART_SIZE } from "./s3-multipart";
import { S3Writer, isS3WriterState, type Segment } from "./s3-writer";

const MiB = 1024 * 1024;

export interface S3DriverOptions {
  bucket: string;
  /** Default: AWS_REGION from the environment, else us-east-1 (what MinIO and most S3-compatibles expect). */
  region?: string;
  /** e.g. http://minio:9000 for an S3-compatible store; unset for AWS S3. */
  endpoint?: string;
  /** http://endpoint/bucket/key instead of http://bucket.endpoint/key (MinIO, s3rver, most self-hosted stores). */
  forcePathStyle?: boolean;
  /** Every key lives under this prefix ("" or "some/dir/"), so one bucket can hold several registries. */
  prefix?: string;
  /** For blobs (not for the short-lived pieces of unfinished uploads), e.g. STANDARD_IA or INTELLIGENT_TIERING. */
  storageClass?: string;
  /** Answer blob GETs with 307 to a presigned URL, so bytes flow from the object store to the client. */
  redirect?: boolean;
  redirectExpiresSeconds?: number;
  /** Static credentials; unset → the AWS SDK's default chain (AWS_ACCESS_KEY_ID/…, profile, web identity, IMDS). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Size of the parts a long append is cut into (and of the memory one append holds), ≥ 5 MiB. Default 8 MiB. */
  partSize?: number;
  /**
   * The largest part and the largest single CopyObject (5 GiB on S3). Tests lower it to exercise
   * multipart copies without writing gigabytes.
   */
  maxPartSize?: number;
  logger?: Logger;
  /** Use this client instead of building one from the options above (tests). */
  client?: S3Client;
}

/**
 * Blobs in an S3 bucket (AWS S3, MinIO, Ceph RGW, Aliyun OSS, …), for registries that run as several
 * stateless replicas over one bucket and one Postgres.
 *
 * Finished files are plain objects: putContent is a PutObject, move a CopyObject (a multipart copy above
 * 5 GiB) followed by a DeleteObject, list a paginated ListObjectsV2, delete a DeleteObject plus a
 * DeleteObjects of everything under `path/`.
 *
 * Unfinished files (blob uploads) are the subtle part; see S3Writer for the whole story. In short: each
 * append becomes one immutable "segment" object under `<path>.segments/` with a fresh random key, and the
 * writer's JSON state — kept by the upload service in the upload's database row — lists the segments.
 * Nothing about an unfinished file lives only in one process, so any replica can continue it, and
 * reader(path, range, state) can read it back (the upload service re-hashes from storage when its
 * in-memory hasher is elsewhere). commit() assembles the segments into the final object server-side
 * (CopyObject, or a multipart upload of UploadPartCopy parts, streaming through when the store has no
 * UploadPartCopy). We never use ListParts, ListMultipartUploads or AbortMultipartUpload to get anything
 * right: several S3-compatible servers lack them, and the state already knows everything.
 */
export class S3Driver implements StorageDriver, S3Bucket {
  readonly name = "s3";
  /** @internal */ readonly client: S3Client;
  /** @internal */ readonly bucket: string;
  /** @internal */ readonly partSize: number;
  /** @internal */ readonly maxPartSize: number;
  /** @internal */ readonly storageClass: StorageClass | undefined;
  /** @internal */ readonly logger: Logger | undefined;
  /** @internal */ readonly assembler: MultipartAssembler;
  private readonly prefix: string;
  private readonly redirect: boolean;
  private readonly redirectExpiresSeconds: number;

  constructor(options: S3DriverOptions) {
    this.bucket = options.bucket;
    this.prefix = normalisePrefix(options.prefix ?? "");
    this.redirect = options.redirect ?? false;
    this.redirectExpiresSeconds = options.redirectExpiresSeconds ?? 20 * 60;
    this.storageClass = (options.storageClass || undefined) as StorageClass | undefined;
    this.partSize = options.partSize ?? 8 * MiB;
    this.maxPartSize = options.maxPartSize ?? MAX_PART_SIZE;
    if (this.partSize < MIN_PART_SIZE) throw new Error(`S3 part size must be at least ${MIN_PART_SIZE} bytes`);
    if (this.maxPartSize < 2 * MIN_PART_SIZE) throw new Error(`S3 max part size must be at least ${2 * MIN_PART_SIZE} bytes`);
    this.logger = options.logger;
    this.client = options.client ?? createS3Client(options);
    this.assembler = new MultipartAssembler(this);
  }

  /** @internal The object key of a driver path. */
  key(path: string): string {
    assertValidPath(path);
    return this.prefix + path;
  }

  /** @internal Sends one command, turning the store's failures into PathNotFoundError / StorageUnavailableError. */
  async send<T = unknown>(command: object, path?: string): Promise<T> {
    try {
      return (await this.client.send(command as never)) as T;
    } catch (err) {
      throw translateError(err, path);
    }
  }

  async stat(path: string): Promise<FileInfo> {
    const head = await this.send<{ ContentLength?: number; LastModified?: Date }>(
      new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }),
      path,
    );
    return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
  }

  async reader(path: string, range?: ByteRange, state?: WriterState | null): Promise<Readable> {
    if (state && isS3WriterState(state)) return this.readSegments(path, state.segments, state.size, range);
    return this.readObject(path, range);
  }

  async getContent(path: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.readObject(path)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async putContent(path: string, data: Buffer): Promise<void> {
    await this.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.key(path), Body: data, ContentLength: data.length, StorageClass: this.storageClass }),
      path,
    );
  }

  async writer(path: string, state?: WriterState | null): Promise<FileWriter> {
    this.key(path);
    return new S3Writer(this, path, state ?? null);
  }

  async move(from: string, to: string): Promise<void> {
    const { size } = await this.stat(from);
    if (from === to) return;
    await this.copy(from, to, size);
    await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(from) }), from);
  }

  async delete(path: string): Promise<void> {
    await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(path) }), path);
    await this.deletePrefix(`${path}/`);
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = prefix.replace(/\/+$/, "");
    const keyPrefix = base === "" ? this.prefix : `${this.key(base)}/`;
    for await (const key of this.listKeys(keyPrefix)) yield key.slice(this.prefix.length);
  }

  async redirectUrl(path: string): Promise<string | null> {
    if (!this.redirect) return null;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }), {
      expiresIn: this.redirectExpiresSeconds,
    });
  }

  /** @internal Copies a finished object server-side: CopyObject, or a multipart copy above maxPartSize. */
  async copy(from: string, to: string, size: number): Promise<void> {
    await this.assembler.assemble(to, [{ path: from, size }], this.storageClass);
  }

  /** @internal A single CopyObject (≤ maxPartSize). */
  async copyObject(from: string, to: string, storageClass: StorageClass | undefined): Promise<void> {
    await this.send(
      new CopyObjectCommand({ Bucket: this.bucket, Key: this.key(to), CopySource: this.copySource(from), StorageClass: storageClass }),
      from,
    );
  }

  /** @internal The x-amz-copy-source value for a path. */
  copySource(path: string): string {
    return `${this.bucket}/${this.key(path).split("/").map(encodeURIComponent).join("/")}`;
  }

  /** @internal Deletes every object whose key starts with `path` (a driver path prefix, e.g. "a/b/"). */
  async deletePrefix(pathPrefix: string): Promise<void> {
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const objects = batch.map((Key) => ({ Key }));
      batch = [];
      await this.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } }));
    };
    for await (const key of this.listKeys(this.prefix + pathPrefix)) {
      batch.push(key);
      if (batch.length === 1000) await flush();
    }
    await flush();
  }

  private async *listKeys(keyPrefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.send<{ Contents?: Array<{ Key?: string }>; IsTruncated?: boolean; NextContinuationToken?: string }>(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: keyPrefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * @internal Opens an object (or an inclusive range of it) as a stream of exactly the bytes asked for:
   * more than that is cut off (some servers answer `bytes=0-0` with the whole object), and a stream that
   * ends early fails instead of passing for a short file.
   */
  async readObject(path: string, range?: ByteRange): Promise<Readable> {
    let res: { Body?: unknown; ContentLength?: number };
    try {
      res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.key(path),
          Range: range ? `bytes=${range.start}-${range.end ?? ""}` : undefined,
        }),
      );
    } catch (err) {
      // Like a file read past its end: nothing, not an error.
      if (range && (nameOf(err) === "InvalidRange" || statusOf(err) === 416)) return Readable.from([]);
      throw translateError(err, path);
    }
    const body = res.Body as Readable;
    const available = res.ContentLength ?? 0;
    const wanted = range?.end === undefined ? available : Math.min(available, range.end - range.start + 1);
    return Readable.from(exactly(body, wanted, path), { objectMode: false });
  }

  /** Reads an unfinished file: the byte range of the concatenated segments its writer state lists. */
  private async readSegments(path: string, segments: Segment[], size: number, range?: ByteRange): Promise<Readable> {
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? size - 1, size - 1);
    const pieces: Array<{ path: string; range: ByteRange }> = [];
    let offset = 0;
    for (const segment of segments) {
      const first = Math.max(start, offset);
      const last = Math.min(end, offset + segment.size - 1);
      if (first <= last) pieces.push({ path: segment.path, range: { start: first - offset, end: last - offset } });
      offset += segment.size;
    }
    if (pieces.length === 0) return Readable.from([]);
    // The first piece is opened now, so a missing upload is reported before a response starts.
    let opened: Readable;
    try {
      opened = await this.readObject(pieces[0].path, pieces[0].range);
    } catch (err) {
      throw err instanceof PathNotFoundError ? new PathNotFoundError(path) : err;
    }
    const self = this;
    async function* all(): AsyncIterable<Buffer> {
      yield* opened as AsyncIterable<Buffer>;
      for (const piece of pieces.slice(1)) yield* (await self.readObject(piece.path, piece.range)) as AsyncIterable<Buffer>;
    }
    return Readable.from(all(), { objectMode: false });
  }
}

export function createS3Client(options: S3DriverOptions): S3Client {
  return new S3Client({
    region: options.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
    endpoint: options.endpoint || undefined,
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Checksums only where S3 requires them: the newer default (CRC trailers on every upload) is refused
    // or stored verbatim by many S3-compatible servers. Integrity is ours anyway: every blob's digest is
    // verified before it becomes visible.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // S3 asks clients to retry InternalError and SlowDown; the SDK backs off between attempts.
    maxAttempts: 5,
    // Fail fast when the store is unreachable, and give up on a connection that went silent.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
}

function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "";
  assertValidPath(trimmed);
  return `${trimmed}/`;
}

/** Passes exactly `wanted` bytes of source, then stops it; fails if it ends before that. */
async function* exactly(source: Readable, wanted: number, path: string): AsyncIterable<Buffer> {
  let left = wanted;
  try {
    if (left > 0) {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        if (chunk.length >= left) {
          yield chunk.subarray(0, left);
          left = 0;
          break;
        }
        left -= chunk.length;
        yield chunk;
      }
    }
  } catch (err) {
    throw translateError(err, undefined);
  } finally {
    source.destroy();
  }
  if (left > 0) throw new StorageUnavailableError(`object store stream for ${path} ended ${left} bytes early`);
}
