import { randomUUID, type Hash } from "node:crypto";
import type { Readable } from "node:stream";
import { DomainError } from "../kernel/errors";
import type { RepositoryName } from "../kernel/names";
import type { MetadataStore, UploadRecord } from "../metadata/store";
import type { FileWriter, StorageDriver } from "../storage/driver";
import { createDigester, digestAlgorithm, finishDigest, type Digest, type DigestAlgorithm } from "../kernel/digest";
import { HashingTap, tapped } from "./hashing-stream";
import { KeyedMutex } from "./keyed-mutex";
import { blobPath, uploadDir, uploadPath } from "./paths";

/** An inclusive byte range a client claims for a chunk (Content-Range on PATCH). */
export interface ChunkRange {
  start: number;
  end: number;
}

export interface UploadStatus {
  id: string;
  /** Bytes received so far; the next chunk must start here. */
  offset: number;
}

/** What the upload state machine needs from the metadata store, and no more. */
export type UploadStore = Pick<MetadataStore, "createUpload" | "findUpload" | "advanceUpload" | "deleteUpload" | "publishBlob" | "publishUpload">;

/**
 * The blob upload state machine: start → append* → finish | cancel.
 *
 * State lives in the database (offset, driver state) so any process can continue an upload, even after a
 * restart. The running digest is an in-process optimisation: when it is missing or stale (another replica
 * took the previous chunk) the bytes received so far are re-read from storage and hashed again.
 * Content becomes a blob only after its digest verifies: the writer then commits it straight into the
 * content-addressed path (a rename on disk, a server-side assembly on S3) and only then is it linked.
 */
export class UploadService {
  private readonly locks = new KeyedMutex();
  private readonly hashers = new HasherCache(4096);

  constructor(
    private readonly store: UploadStore,
    private readonly storage: StorageDriver,
  ) {}

  async start(repository: RepositoryName): Promise<UploadStatus> {
    const id = randomUUID();
    await this.store.createUpload(repository, id);
    return { id, offset: 0 };
  }

  /** POST with ?digest=: the whole blob in one request, never tracked as a session. */
  async uploadWhole(repository: RepositoryName, digest: Digest, body: Readable): Promise<void> {
    const id = randomUUID();
    const algorithm = digestAlgorithm(digest);
    const hash = createDigester(algorithm);
    const writer = await this.storage.writer(uploadPath(id));
    try {
      await writer.append(tapped(body, new HashingTap(hash)));
      const actual = finishDigest(algorithm, hash);
      if (actual !== digest) throw digestMismatch(digest, actual);
      await this.publish(repository, id, digest, writer.size, writer);
    } catch (err) {
      await writer.cancel().catch(() => undefined);
      await this.storage.delete(uploadDir(id)).catch(() => undefined);
      throw err;
    }
  }

  async status(repository: RepositoryName, id: string): Promise<UploadStatus> {
    const upload = await this.load(repository, id);
    return { id, offset: upload.offset };
  }

  /** PATCH: appends one chunk. A chunk that does not start at the current offset is refused with 416. */
  append(repository: RepositoryName, id: string, body: Readable, range: ChunkRange | null): Promise<UploadStatus> {
    return this.locks.run(id, async () => {
      const upload = await this.load(repository, id);
      const { writer, offset } = await this.appendChunk(upload, body, range);
      const driverState = await writer.suspend();
      let advanced: boolean;
      try {
        advanced = await this.store.advanceUpload(upload.id, upload.offset, { offset, driverState });
      } catch (err) {
        // A session grown past its project's quota is cancelled: its bytes would otherwise stay until the timeout.
        if (err instanceof DomainError && err.code === "QuotaExceeded") await this.discard(upload.id);
        throw err;
      }
      if (!advanced) {
        this.hashers.delete(upload.id);
        throw changedMeanwhile();
      }
      return { id, offset };
    });
  }

  /**
   * PUT: appends an optional last chunk, verifies the digest and publishes the blob. A Content-Range that
   * does not continue the upload is refused with 416, as on PATCH.
   */
  finish(repository: RepositoryName, id: string, digest: Digest, body: Readable | null, range: ChunkRange | null = null): Promise<void> {
    return this.locks.run(id, async () => {
      let upload = await this.load(repository, id);
      const recorded = upload.offset;
      // The last chunk is not recorded on its own: publishing ends the session, checking it still stands
      // where we found it (one transaction instead of three statements). Its writer stays open to commit.
      let writer: FileWriter;
      if (body) {
        const appended = await this.appendChunk(upload, body, range);
        writer = appended.writer;
        upload = { ...upload, offset: appended.offset, driverState: writer.checkpoint() };
      } else {
        if (range) assertContinues(upload, range);
        writer = await this.storage.writer(uploadPath(id), upload.driverState ?? { size: upload.offset });
      }
      let published = false;
      try {
        const actual = await this.digestOf(upload, digestAlgorithm(digest));
        if (actual !== digest) {
          await writer.cancel();
          await this.discard(id);
          throw digestMismatch(digest, actual);
        }
        this.hashers.delete(id);
        // The bytes go into place under the blob's row lock: see MetadataStore.publishBlob and src/gc/collector.ts.
        published = await this.store.publishUpload(repository, { id, offset: recorded }, { digest, size: upload.offset }, () =>
          writer.commit(blobPath(digest)),
        );
        if (!published) throw changedMeanwhile();
      } finally {
        // Not committed: let go of the file, which stays the upload's as far as its row says.
        if (!published) await writer.suspend().catch(() => undefined);
      }
      await this.storage.delete(uploadDir(id));
    });
  }

  cancel(repository: RepositoryName, id: string): Promise<void> {
    return this.locks.run(id, async () => {
      await this.load(repository, id);
      await this.discard(id);
    });
  }

  private async load(repository: RepositoryName, id: string): Promise<UploadRecord> {
    const upload = await this.store.findUpload(repository, id);
    if (!upload) throw new DomainError("BlobUploadUnknown", `upload ${id} does not exist in ${repository}`);
    return upload;
  }

  /**
   * Appends one chunk through a writer it leaves open for the caller to suspend (and record the chunk) or
   * commit. The running sha256 is left in the cache at the new offset.
   */
  private async appendChunk(upload: UploadRecord, body: Readable, range: ChunkRange | null): Promise<{ writer: FileWriter; offset: number }> {
    if (range) assertContinues(upload, range);
    const hash = await this.hasherAt(upload);
    const writer = await this.storage.writer(uploadPath(upload.id), upload.driverState ?? { size: upload.offset });
    const tap = new HashingTap(hash);
    try {
      await writer.append(tapped(body, tap));
      if (range && tap.bytes !== range.end - range.start + 1) {
        throw new DomainError("RangeInvalid", `Content-Range announced ${range.end - range.start + 1} bytes but ${tap.bytes} arrived`, {
          upload: { id: upload.id, repository: upload.repository, offset: upload.offset },
        });
      }
    } catch (err) {
      // The hash has seen bytes the upload will not keep; the next chunk re-hashes from storage.
      this.hashers.delete(upload.id);
      await writer.suspend().catch(() => undefined);
      throw err;
    }
    const offset = upload.offset + tap.bytes;
    this.hashers.set(upload.id, hash, offset);
    return { writer, offset };
  }

  /** A sha256 hasher positioned at the upload's offset: the cached one, or one rebuilt from storage. */
  private async hasherAt(upload: UploadRecord): Promise<Hash> {
    const cached = this.hashers.take(upload.id, upload.offset);
    if (cached) return cached;
    return this.hashStored(upload, "sha256");
  }

  private async digestOf(upload: UploadRecord, algorithm: DigestAlgorithm): Promise<Digest> {
    const cached = algorithm === "sha256" ? this.hashers.take(upload.id, upload.offset) : null;
    const hash = cached ?? (await this.hashStored(upload, algorithm));
    return finishDigest(algorithm, hash);
  }

  private async hashStored(upload: UploadRecord, algorithm: DigestAlgorithm): Promise<Hash> {
    const hash = createDigester(algorithm);
    if (upload.offset === 0) return hash;
    // With the state, the driver reads exactly the bytes this row accounts for (S3 keeps them in pieces).
    const stream = await this.storage.reader(uploadPath(upload.id), { start: 0, end: upload.offset - 1 }, upload.driverState);
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return hash;
  }

  /** The verified bytes are already at blobPath (the writer committed them there): make them readable. */
  private async publish(repository: RepositoryName, id: string, digest: Digest, size: number, writer: FileWriter): Promise<void> {
    // The bytes go into place under the blob's row lock: see MetadataStore.publishBlob and src/gc/collector.ts.
    await this.store.publishBlob(repository, { digest, size }, () => writer.commit(blobPath(digest)));
    await this.storage.delete(uploadDir(id));
  }

  private async discard(id: string): Promise<void> {
    this.hashers.delete(id);
    await this.store.deleteUpload(id);
    await this.storage.delete(uploadDir(id));
  }
}

function changedMeanwhile(): DomainError {
  return new DomainError("BlobUploadInvalid", "the upload was changed by another request; retry from its current offset");
}

/** A chunk must start where the upload stands; the refusal tells the client where that is. */
function assertContinues(upload: UploadRecord, range: ChunkRange): void {
  if (range.start !== upload.offset) {
    throw new DomainError("RangeInvalid", `chunk starts at ${range.start} but the upload is at ${upload.offset}`, {
      upload: { id: upload.id, repository: upload.repository, offset: upload.offset },
    });
  }
}

function digestMismatch(expected: Digest, actual: Digest): DomainError {
  return new DomainError("DigestInvalid", `content digest ${actual} does not match ${expected}`);
}

/** Running sha256 states by upload, valid only at the offset they were left at. Bounded: LRU by insertion. */
class HasherCache {
  private readonly entries = new Map<string, { hash: Hash; offset: number }>();

  constructor(private readonly capacity: number) {}

  set(id: string, hash: Hash, offset: number): void {
    this.entries.delete(id);
    this.entries.set(id, { hash, offset });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The state at `offset`, removed from the cache (the caller now owns and advances it). */
  take(id: string, offset: number): Hash | null {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    return entry && entry.offset === offset ? entry.hash : null;
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}
