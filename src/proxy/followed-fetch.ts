import { blobPath, uploadPath } from "../registry/paths";
import type { Digest } from "../kernel/digest";
import { PathNotFoundError, type StorageDriver, type WriterState } from "../storage/driver";
import { GrowingBlob, type BlobCursor } from "./growing-blob";
import type { FetchProgress, MirrorStore } from "../metadata/mirror-store";
import { UpstreamError } from "./upstream-client";

/** How often a follower looks at the leader's progress (PGlite has no LISTEN/NOTIFY; polling works on both). */
const POLL_MS = 250;

/** How a followed fetch ended. */
export type FollowOutcome = "published" | "corrupt" | "stopped";

/**
 * Another replica's fetch of a blob, followed through the shared database and storage: the leader appends
 * the download to an upload in storage and records in its mirror_fetch row how many bytes are durable;
 * this polls that row and reads the durable prefix, so clients here stream while the leader downloads.
 * The blob is done when it is published (its row in `blob` exists: verified and in place).
 */
export class FollowedFetch extends GrowingBlob {
  // When the leader stops, a takeover continues for our readers.
  protected readonly mayContinue = true;

  private leader: { owner: string; uploadId: string } | null = null;
  private state: WriterState | null = null;
  private published = false;

  constructor(
    digest: Digest,
    private readonly deps: { storage: StorageDriver; mirror: MirrorStore },
  ) {
    super(digest);
  }

  /**
   * Follows until the blob is published (done), proves corrupt (failed), or the leader stops without
   * either — then it is up to the caller to take over. `closing` ends the wait early ("stopped").
   */
  async follow(closing: () => boolean): Promise<FollowOutcome> {
    for (;;) {
      const outcome = await this.poll();
      if (outcome) return outcome;
      if (closing()) return "stopped";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  protected cursor(): BlobCursor {
    return { read: (start, end) => this.read(start, end), close: () => undefined };
  }

  private async poll(): Promise<FollowOutcome | null> {
    const { fetch, publishedSize } = await this.deps.mirror.fetchProgress(this.digest);
    if (publishedSize !== null) {
      this.published = true;
      this.setSize(publishedSize);
      this.advanceTo(publishedSize);
      this.finish(null);
      return "published";
    }
    if (!this.leader && fetch?.live && !fetch.corrupt) {
      // A leader that has not started its upload yet (or an older replica that never shares one): wait.
      if (!fetch.uploadId) return null;
      this.leader = { owner: fetch.owner, uploadId: fetch.uploadId };
    }
    if (!fetch || !this.isLeader(fetch) || !fetch.live) return "stopped";
    if (fetch.corrupt) {
      this.finish(new UpstreamError(`the upstream sent content that does not match ${this.digest}`, 502));
      return "corrupt";
    }
    if (fetch.size !== null && this.size === null) this.setSize(fetch.size);
    if (fetch.written > this.written) {
      this.state = fetch.state;
      this.advanceTo(fetch.written);
    }
    return null;
  }

  private isLeader(fetch: FetchProgress): boolean {
    return fetch.owner === this.leader?.owner && fetch.uploadId === this.leader.uploadId;
  }

  private async *read(start: number, end: number): AsyncIterable<Buffer> {
    const { storage } = this.deps;
    const range = { start, end: end - 1 };
    try {
      const stream = this.published
        ? await storage.reader(blobPath(this.digest), range)
        : await storage.reader(uploadPath(this.leader!.uploadId), range, this.state);
      yield* stream as AsyncIterable<Buffer>;
    } catch (err) {
      // The leader committed or cancelled its upload since our last look; the next poll tells which.
      if (!(err instanceof PathNotFoundError) || this.published) throw err;
    }
  }
}
