import { randomUUID } from "node:crypto";
import { close, openSync, read } from "node:fs";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { RepositoryName } from "../kernel/names";
import type { MetadataStore } from "../metadata/store";
import { createDigester, digestAlgorithm, finishDigest, type Digest } from "../kernel/digest";
import { blobPath, uploadDir, uploadPath } from "../registry/paths";
import type { StorageDriver, WriterState } from "../storage/driver";
import { FollowedFetch } from "./followed-fetch";
import { GrowingBlob, type BlobCursor } from "./growing-blob";
import type { MirrorStats } from "./mirror-stats";
import type { MirrorStore } from "../metadata/mirror-store";
import type { MirrorRoute } from "./mirror-router";
import { UploadSharer } from "./upload-sharer";

/**
 * Fetches missing blobs from upstreams, once per digest however many clients — of however many replicas
 * sharing one Postgres and one storage — ask at the same moment, and lets every client stream the bytes
 * as they arrive.
 *
 * A lease row in Postgres (mirror_fetch) elects one leader per digest. The leader writes the upstream's
 * bytes to a local spool file while hashing them; its own clients read that growing file (no waiting for
 * storage, no storage reads). It also copies the spool, a few times a second, into an upload in shared
 * storage and records in the row how much of it is durable (UploadSharer); clients of other replicas
 * stream that durable prefix (FollowedFetch). Only when the whole blob is in and its digest verifies is the
 * upload committed into blob place and linked, so an interrupted or corrupt fetch never becomes visible;
 * a corrupt one cuts every client's transfer. When a leader stops without publishing (its upstream broke
 * off, or it died and its lease lapsed) a follower takes over, and its clients carry on from where they are.
 */
export class BlobFetcher {
  private readonly inflight = new Map<string, GrowingBlob>();
  private readonly joining = new Map<string, Promise<GrowingBlob>>();
  private readonly running = new Set<Promise<void>>();
  private readonly owner = randomUUID();
  private closing = false;

  constructor(
    private readonly deps: {
      storage: StorageDriver;
      store: MetadataStore;
      mirror: MirrorStore;
      stats: MirrorStats;
      logger: Logger;
      spoolDir: string;
      /** Told the size of every blob stored (the cache limit's watch). */
      onCached?: (bytes: number) => void;
    },
  ) {}

  /** Resolves once the fetches under way now have been published (or have failed). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** Waits for fetches under way (followers stop following), so nothing touches the database after it is closed. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.running]);
  }

  /** The fetch under way in this process for the digest, if any. */
  active(digest: Digest): GrowingBlob | undefined {
    return this.inflight.get(digest);
  }

  /** Joins the fetch of this digest: this process's own, another replica's, or a new one. */
  fetch(route: MirrorRoute, repository: RepositoryName, digest: Digest): Promise<GrowingBlob> {
    const joining = this.joining.get(digest);
    if (joining) return joining;
    const starting = this.start(route, repository, digest);
    this.joining.set(digest, starting);
    starting.catch(() => this.joining.delete(digest));
    return starting;
  }

  private async start(route: MirrorRoute, repository: RepositoryName, digest: Digest): Promise<GrowingBlob> {
    const uploadId = randomUUID();
    if (await this.deps.mirror.acquireFetch(digest, this.owner, uploadId)) {
      return this.lead(route, repository, digest, uploadId).catch(async (err: Error) => {
        await this.deps.mirror.releaseFetch(digest, this.owner, uploadId).catch(() => undefined);
        throw err;
      });
    }
    const followed = new FollowedFetch(digest, this.deps);
    this.track(digest, followed, async () => {
      const outcome = await followed.follow(() => this.closing).catch((err: Error) => err);
      this.forget(digest, followed);
      if (outcome === "stopped" && !this.closing) {
        followed.finish(new Error("the replica fetching this blob stopped"), this.fetch(route, repository, digest));
      } else if (outcome === "stopped" || outcome instanceof Error) {
        followed.finish(outcome instanceof Error ? outcome : new Error("shutting down"));
      }
    });
    return followed;
  }

  private async lead(route: MirrorRoute, repository: RepositoryName, digest: Digest, uploadId: string): Promise<GrowingBlob> {
    await mkdir(this.deps.spoolDir, { recursive: true });
    const spoolPath = join(this.deps.spoolDir, `${uploadId}.spool`);
    const spool = await open(spoolPath, "w+");
    const fetch = new SpoolFetch(digest, spoolPath);
    this.track(digest, fetch, async () => {
      await this.run(fetch, spool, uploadId, route, repository);
      await this.deps.mirror.releaseFetch(digest, this.owner, uploadId).catch(() => undefined);
    });
    return fetch;
  }

  private track(digest: Digest, blob: GrowingBlob, work: () => Promise<void>): void {
    this.inflight.set(digest, blob);
    const running = work().finally(() => this.running.delete(running));
    this.running.add(running);
  }

  /** Settles a download of ours; a request from now on finds the blob in storage, or starts afresh. */
  private settle(fetch: GrowingBlob, error: Error | null): void {
    this.forget(fetch.digest, fetch);
    fetch.finish(error);
  }

  private forget(digest: Digest, blob: GrowingBlob): void {
    if (this.inflight.get(digest) !== blob) return;
    this.inflight.delete(digest);
    this.joining.delete(digest);
  }

  private async run(fetch: SpoolFetch, spool: FileHandle, uploadId: string, route: MirrorRoute, repository: RepositoryName): Promise<void> {
    const { storage, store, stats, logger, mirror } = this.deps;
    const lease = setInterval(() => void mirror.renewFetch(fetch.digest, this.owner), 10_000);
    let sharer: UploadSharer | null = null;
    let corrupt = false;
    try {
      const res = await route.upstream.openBlob(route.remoteName, fetch.digest);
      const declared = res.headers.get("content-length");
      if (declared !== null) fetch.setSize(Number(declared));
      const publish = async (written: number, state: WriterState) => {
        if (!(await mirror.recordFetchProgress(fetch.digest, this.owner, { written, size: fetch.size, state }))) {
          throw new Error("lost the fetch lease to another replica");
        }
      };
      const writer = await storage.writer(uploadPath(uploadId));
      sharer = new UploadSharer(writer, fetch.spoolPath, publish);
      // Followers learn the size (for their clients' HEAD) before the first bytes are shared.
      await publish(0, writer.checkpoint());
      const hash = createDigester(digestAlgorithm(fetch.digest));
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        await spool.write(chunk, 0, chunk.length, fetch.written);
        fetch.advanceTo(fetch.written + chunk.length);
        sharer.spooledTo(fetch.written);
      }
      const actual = finishDigest(digestAlgorithm(fetch.digest), hash);
      if (declared !== null && Number(declared) !== fetch.written) throw new Error("upstream sent fewer bytes than it announced");
      corrupt = actual !== fetch.digest;
      if (corrupt) throw new Error(`upstream sent content with digest ${actual}, not ${fetch.digest}`);
      fetch.setSize(fetch.written);
      stats.bytesFromUpstream += fetch.written;
      // The clients may have their last bytes now: what they read is verified, whatever happens to the
      // publishing below. (Until it is done, new requests still join this fetch and read the spool.)
      fetch.finish(null);

      // Verified: now, and only now, it becomes a blob — into place under the blob's row lock, linked in the
      // same transaction (see MetadataStore.publishBlob).
      const shared = await sharer.drain();
      sharer = null;
      await store.publishBlob(repository, { digest: fetch.digest, size: fetch.written }, () => shared.commit(blobPath(fetch.digest)));
      this.deps.onCached?.(fetch.written);
      this.forget(fetch.digest, fetch);
    } catch (err) {
      logger.warn({ err, digest: fetch.digest, upstream: route.upstream.config.name }, "mirror blob fetch failed");
      if (fetch.done && !fetch.error) {
        // Served, but not kept: the next request fetches it again.
        this.forget(fetch.digest, fetch);
        await sharer?.cancel().catch(() => undefined);
        return;
      }
      if (corrupt) await mirror.markFetchCorrupt(fetch.digest, this.owner).catch(() => undefined);
      await sharer?.cancel().catch(() => undefined);
      this.settle(fetch, err instanceof Error ? err : new Error(String(err)));
    } finally {
      clearInterval(lease);
      await spool.close().catch(() => undefined);
      // Readers hold their own descriptors; the spool's name can go now.
      await rm(fetch.spoolPath, { force: true });
      await storage.delete(uploadDir(uploadId)).catch(() => undefined);
    }
  }
}

/** This process's own download: readers follow the spool file as it grows. */
class SpoolFetch extends GrowingBlob {
  // The leader's own readers are cut off with its download; they never move on to another one.
  protected readonly mayContinue = false;

  constructor(
    digest: Digest,
    readonly spoolPath: string,
  ) {
    super(digest);
  }

  /** The spool is opened now, so the reader keeps working after the fetch ends and the spool's name is removed. */
  protected cursor(): BlobCursor {
    const fd = openSync(this.spoolPath, "r");
    let closed = false;
    return {
      async *read(start, end) {
        for (let position = start; position < end; ) {
          const buffer = Buffer.allocUnsafe(Math.min(end - position, 1024 * 1024));
          const bytesRead = await new Promise<number>((resolve, reject) =>
            read(fd, buffer, 0, buffer.length, position, (err, n) => (err ? reject(err) : resolve(n))),
          );
          if (bytesRead === 0) return;
          position += bytesRead;
          yield buffer.subarray(0, bytesRead);
        }
      },
      close() {
        if (!closed) close(fd, () => undefined);
        closed = true;
      },
    };
  }
}
