import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { close, createReadStream, openSync, read } from "node:fs";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import type { RepositoryName } from "../oci/names";
import type { MetadataStore } from "../metadata/store";
import { createDigester, digestAlgorithm, finishDigest, type Digest } from "../registry/digest";
import { blobPath, uploadDir, uploadPath } from "../registry/paths";
import type { ByteRange, StorageDriver } from "../storage/driver";
import type { MirrorStats } from "./mirror-stats";
import type { MirrorStore } from "./mirror-store";
import type { MirrorRoute } from "./mirror-router";

/**
 * Fetches missing blobs from upstreams, once per digest however many clients ask at the same moment.
 *
 * The one fetch writes the upstream's bytes to a local spool file while hashing them; every client — the
 * first and any that join later, Range requests included — reads that growing file from its own position
 * and gets bytes as they arrive. Only when the whole blob is in and its digest verifies is it moved into
 * storage and linked, so an interrupted or corrupt fetch never becomes visible. Across replicas a lease row
 * in Postgres elects one fetcher per digest; the others wait for its result and then serve from storage.
 */
export class BlobFetcher {
  private readonly inflight = new Map<string, BlobFetch>();
  private readonly joining = new Map<string, Promise<BlobFetch | null>>();
  private readonly running = new Set<Promise<void>>();
  private readonly owner = randomUUID();

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

  /** Waits for fetches under way, so nothing touches the database after it is closed. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** The fetch under way in this process for the digest, if any. */
  active(digest: Digest): BlobFetch | undefined {
    return this.inflight.get(digest);
  }

  /**
   * Joins the fetch of this digest, starting it if nobody here is fetching it yet. Null when another
   * replica fetched it meanwhile (it is then in storage) or holds the fetch past our patience.
   */
  fetch(route: MirrorRoute, repository: RepositoryName, digest: Digest): Promise<BlobFetch | null> {
    const joining = this.joining.get(digest);
    if (joining) return joining;
    const starting = this.start(route, repository, digest);
    this.joining.set(digest, starting);
    starting.then(
      (fetch) => fetch ?? this.joining.delete(digest),
      () => this.joining.delete(digest),
    );
    return starting;
  }

  private async start(route: MirrorRoute, repository: RepositoryName, digest: Digest): Promise<BlobFetch | null> {
    const { mirror, store } = this.deps;
    if (!(await mirror.acquireFetch(digest, this.owner))) {
      // Another replica is fetching it: wait for its result rather than asking the upstream twice.
      await mirror.waitForFetch(digest, async () => (await store.findLinkedBlob(repository, digest)) !== null);
      if (await store.findLinkedBlob(repository, digest)) return null;
      if (!(await mirror.acquireFetch(digest, this.owner))) return null;
    }
    await mkdir(this.deps.spoolDir, { recursive: true });
    const spoolPath = join(this.deps.spoolDir, `${randomUUID()}.spool`);
    const spool = await open(spoolPath, "w+");
    const fetch = new BlobFetch(digest, spoolPath);
    this.inflight.set(digest, fetch);
    const running = this.run(fetch, spool, route, repository).finally(async () => {
      this.inflight.delete(digest);
      this.joining.delete(digest);
      await mirror.releaseFetch(digest, this.owner).catch(() => undefined);
      this.running.delete(running);
    });
    this.running.add(running);
    return fetch;
  }

  private async run(fetch: BlobFetch, spool: FileHandle, route: MirrorRoute, repository: RepositoryName): Promise<void> {
    const { storage, store, stats, logger, mirror } = this.deps;
    const lease = setInterval(() => void mirror.renewFetch(fetch.digest, this.owner), 10_000);
    try {
      const res = await route.upstream.openBlob(route.remoteName, fetch.digest);
      const declared = res.headers.get("content-length");
      if (declared !== null) fetch.setSize(Number(declared));
      const hash = createDigester(digestAlgorithm(fetch.digest));
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        await spool.write(chunk, 0, chunk.length, fetch.written);
        fetch.advance(chunk.length);
      }
      const actual = finishDigest(digestAlgorithm(fetch.digest), hash);
      if (actual !== fetch.digest) throw new Error(`upstream sent content with digest ${actual}, not ${fetch.digest}`);
      if (declared !== null && Number(declared) !== fetch.written) throw new Error("upstream sent fewer bytes than it announced");
      fetch.setSize(fetch.written);
      stats.bytesFromUpstream += fetch.written;

      // Verified: now, and only now, it becomes a blob.
      const id = randomUUID();
      const writer = await storage.writer(uploadPath(id));
      try {
        await writer.append(createReadStream(fetch.spoolPath));
        // Into place under the blob's row lock, linked in the same transaction (see MetadataStore.publishBlob).
        await store.publishBlob(repository, { digest: fetch.digest, size: fetch.written }, () => writer.commit(blobPath(fetch.digest)));
        this.deps.onCached?.(fetch.written);
      } catch (err) {
        await writer.cancel().catch(() => undefined);
        throw err;
      } finally {
        await storage.delete(uploadDir(id)).catch(() => undefined);
      }
      fetch.finish(null);
    } catch (err) {
      logger.warn({ err, digest: fetch.digest, upstream: route.upstream.config.name }, "mirror blob fetch failed");
      fetch.finish(err instanceof Error ? err : new Error(String(err)));
    } finally {
      clearInterval(lease);
      await spool.close().catch(() => undefined);
      // Readers hold their own descriptors; the spool's name can go now.
      await rm(fetch.spoolPath, { force: true });
    }
  }
}

/** One blob on its way from an upstream; readers follow the spool file as it grows. */
export class BlobFetch extends EventEmitter {
  written = 0;
  size: number | null = null;
  error: Error | null = null;
  done = false;
  private readonly sizeKnown: Promise<number>;
  private resolveSize!: (size: number) => void;
  private rejectSize!: (err: Error) => void;

  constructor(
    readonly digest: Digest,
    readonly spoolPath: string,
  ) {
    super();
    this.setMaxListeners(0);
    this.sizeKnown = new Promise((resolve, reject) => {
      this.resolveSize = resolve;
      this.rejectSize = reject;
    });
    this.sizeKnown.catch(() => undefined);
  }

  /** The blob's size as soon as the upstream announces it (or when the fetch ends). */
  whenSized(): Promise<number> {
    return this.sizeKnown;
  }

  setSize(size: number): void {
    this.size = size;
    this.resolveSize(size);
  }

  advance(bytes: number): void {
    this.written += bytes;
    this.emit("progress");
  }

  finish(error: Error | null): void {
    this.error = error;
    this.done = true;
    if (error) this.rejectSize(error);
    this.emit("progress");
  }

  /**
   * Bytes [start, end] (inclusive), delivered as the fetch writes them. The spool is opened now, so the
   * reader keeps working after the fetch ends and the spool's name is removed; throws if it is gone already.
   */
  reader(range?: ByteRange): Readable {
    const fetch = this;
    let position = range?.start ?? 0;
    const fd = openSync(this.spoolPath, "r");
    const limit = () => (range?.end !== undefined ? range.end + 1 : fetch.size ?? Infinity);
    return new Readable({
      highWaterMark: 256 * 1024,
      async read(size) {
        try {
          while (true) {
            if (fetch.error) throw fetch.error;
            // A whole-blob read gets its last byte only once the digest has verified, so a corrupt upstream
            // blob reaches the client as a cut transfer, never as a complete one. (A range cannot be verified.)
            const verified = fetch.done || range?.end !== undefined;
            const end = Math.min(limit(), verified ? fetch.written : fetch.written - 1);
            const finished = position >= limit() || (fetch.done && position >= fetch.written);
            if (verified && finished) return void this.push(null);
            if (position < end) {
              const buffer = Buffer.allocUnsafe(Math.min(size, end - position, 1024 * 1024));
              const bytesRead = await new Promise<number>((resolve, reject) =>
                read(fd, buffer, 0, buffer.length, position, (err, n) => (err ? reject(err) : resolve(n))),
              );
              position += bytesRead;
              this.push(buffer.subarray(0, bytesRead));
              return;
            }
            await new Promise<void>((resolve) => fetch.once("progress", resolve));
          }
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      destroy(err, callback) {
        close(fd, () => callback(err));
      },
    });
  }
}
