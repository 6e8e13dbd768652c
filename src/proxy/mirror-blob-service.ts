import type { Readable } from "node:stream";
import { DomainError } from "../kernel/errors";
import type { RepositoryName } from "../kernel/names";
import type { BlobRecord } from "../metadata/store";
import type { BlobService, BlobServiceApi } from "../registry/blob-service";
import type { Digest } from "../kernel/digest";
import type { ByteRange } from "../storage/driver";
import type { BlobFetcher } from "./blob-fetcher";
import type { MirrorRouting } from "./mirror-routing";
import type { MirrorStats } from "./mirror-stats";
import { UpstreamError } from "./upstream-client";

/**
 * Blobs through the pull-through cache, as a decorator of BlobService: a cached blob is served from storage;
 * a miss joins (or starts) the single upstream fetch of that digest and streams from it as bytes arrive.
 */
export class MirrorBlobService implements BlobServiceApi {
  constructor(
    private readonly inner: BlobService,
    private readonly routing: MirrorRouting,
    private readonly fetcher: BlobFetcher,
    private readonly stats: MirrorStats,
  ) {}

  async stat(repository: RepositoryName, digest: Digest): Promise<BlobRecord> {
    try {
      return await this.inner.stat(repository, digest);
    } catch (err) {
      if (!(err instanceof DomainError && err.code === "BlobUnknown")) throw err;
      const route = await this.routing.route(repository);
      if (!route) throw err;
      this.stats.miss(repository);
      try {
        const fetch = await this.fetcher.fetch(route, repository, digest);
        return { digest, size: await fetch.whenSized() };
      } catch (fetchErr) {
        if (fetchErr instanceof UpstreamError) {
          if (fetchErr.notFound) throw new DomainError("BlobUnknown", { digest, upstream: "not found upstream" });
          throw new DomainError("Unavailable", `blob not cached and the upstream failed: ${fetchErr.message}`, { cause: fetchErr });
        }
        throw fetchErr;
      }
    }
  }

  async open(repository: RepositoryName, blob: BlobRecord, range?: ByteRange): Promise<Readable> {
    // Still this process's fetch (even verified and done, it is in storage only once it is forgotten).
    const fetch = this.fetcher.active(blob.digest);
    if (fetch && !fetch.error) {
      try {
        return fetch.reader(range);
      } catch {
        // The fetch finished between our look and the open: the blob is in storage now.
      }
    }
    if (await this.routing.route(repository)) {
      this.stats.hit(repository);
      this.stats.bytesSaved += range ? (range.end ?? blob.size - 1) - range.start + 1 : blob.size;
    }
    return this.inner.open(repository, blob, range);
  }

  redirectUrl(blob: BlobRecord): Promise<string | null> {
    // A blob still arriving from upstream is not in blob place yet: it cannot be redirected to storage.
    return this.fetcher.active(blob.digest) ? Promise.resolve(null) : this.inner.redirectUrl(blob);
  }

  mount(...args: Parameters<BlobService["mount"]>) {
    return this.inner.mount(...args);
  }

  delete(...args: Parameters<BlobService["delete"]>) {
    return this.inner.delete(...args);
  }
}
