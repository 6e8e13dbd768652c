import type { Readable } from "node:stream";
import { DomainError } from "../kernel/errors";
import type { RepositoryName } from "../kernel/names";
import type { BlobRecord, MetadataStore } from "../metadata/store";
import { PathNotFoundError, type ByteRange, type StorageDriver } from "../storage/driver";
import type { Digest } from "../kernel/digest";
import { blobPath } from "./paths";
import type { TagImmutability } from "./manifest-service";

export interface BlobServiceOptions {
  /**
   * HEAD/GET mark a blob as just used when it was last touched longer ago than this, so that garbage
   * collection spares a layer a pusher has just checked for (see src/gc/collector.ts). Undefined: never.
   * A function is asked each time: the grace period it follows can change at run time.
   */
  touchIfIdleMs?: number | (() => number);
  /** The tag immutability rules: a blob an immutable tag's image needs is not unlinked. */
  immutability?: TagImmutability | null;
}

/** Reading, mounting and unlinking blobs. Readability is per repository; bytes are stored once. */
export class BlobService {
  constructor(
    private readonly store: MetadataStore,
    private readonly storage: StorageDriver,
    private readonly options: BlobServiceOptions = {},
  ) {}

  async stat(repository: RepositoryName, digest: Digest): Promise<BlobRecord> {
    const touch = this.options.touchIfIdleMs;
    const blob = await this.store.findLinkedBlob(repository, digest, { touchIfIdleMs: typeof touch === "function" ? touch() : touch });
    if (!blob) throw new DomainError("BlobUnknown", { digest });
    return blob;
  }

  /** Opens the blob's bytes, or the inclusive `range` of them (already checked against the size). */
  async open(_repository: RepositoryName, blob: BlobRecord, range?: ByteRange): Promise<Readable> {
    try {
      return await this.storage.reader(blobPath(blob.digest), range);
    } catch (err) {
      if (err instanceof PathNotFoundError) {
        throw new DomainError("BlobUnknown", { digest: blob.digest, reason: "content missing from storage" }, { cause: err });
      }
      throw err;
    }
  }

  async redirectUrl(blob: BlobRecord): Promise<string | null> {
    return this.storage.redirectUrl ? this.storage.redirectUrl(blobPath(blob.digest)) : null;
  }

  /** Cross-repository mount: null when `from` cannot read the blob (the caller then starts an upload). */
  mount(from: RepositoryName, to: RepositoryName, digest: Digest): Promise<BlobRecord | null> {
    return this.store.mountBlob(from, to, digest);
  }

  /** Makes the blob unreadable in this repository; the bytes go when garbage collection finds them unused. */
  async delete(repository: RepositoryName, digest: Digest): Promise<void> {
    const immutability = this.options.immutability;
    const guard =
      immutability && !immutability.empty
        ? (tags: string[]) => {
            for (const tag of tags) {
              const rule = immutability.ruleFor(repository, tag);
              if (rule === null) continue;
              throw new DomainError(
                "TagImmutable",
                { digest, tag, reason: "immutable tag", rule },
                { summary: `blob ${digest} is part of immutable tag ${tag} (${rule}) and cannot be deleted` },
              );
            }
          }
        : undefined;
    if (!(await this.store.unlinkBlob(repository, digest, guard))) throw new DomainError("BlobUnknown", { digest });
  }
}

/** What handlers use: BlobService or a decorator of it (the pull-through mirror). */
export type BlobServiceApi = Pick<BlobService, "stat" | "open" | "redirectUrl" | "mount" | "delete">;
