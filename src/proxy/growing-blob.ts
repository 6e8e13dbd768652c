import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { createDigester, digestAlgorithm, finishDigest, type Digest } from "../kernel/digest";
import type { ByteRange } from "../storage/driver";

/** One reader's access to the bytes of a growing blob. */
export interface BlobCursor {
  /** Bytes [start, end) — all of them available now — or fewer when the source moved meanwhile. */
  read(start: number, end: number): AsyncIterable<Buffer>;
  close(): void;
}

/**
 * A blob on its way from an upstream, readable while it grows: `written` bytes are available, `done` once
 * the whole blob is in and its digest verified. Subclasses say where the bytes are (this process's spool, or
 * another replica's upload in shared storage) and when more arrive ("progress").
 *
 * A fetch that breaks off may name a continuation — another fetch of the same digest — and readers carry on
 * from their position there. A whole-blob reader of such a fetch hashes what it delivers and withholds the
 * final byte until both the fetch and its own hash verified, so even bytes from two downloads never pass for
 * a whole blob unless they are the blob.
 */
export abstract class GrowingBlob extends EventEmitter {
  written = 0;
  size: number | null = null;
  error: Error | null = null;
  done = false;
  continuation: Promise<GrowingBlob> | null = null;
  /** Counts changes, so a reader can tell whether one happened while it was reading. */
  private version = 0;
  private readonly sizeKnown: Promise<number>;
  private resolveSize!: (size: number | Promise<number>) => void;
  private rejectSize!: (err: Error) => void;

  constructor(readonly digest: Digest) {
    super();
    this.setMaxListeners(0);
    this.sizeKnown = new Promise((resolve, reject) => {
      this.resolveSize = resolve;
      this.rejectSize = reject;
    });
    this.sizeKnown.catch(() => undefined);
  }

  /** Where a new reader gets its bytes; may throw when the source is gone already. */
  protected abstract cursor(): BlobCursor;

  /**
   * Whether this fetch may end by handing its readers over to a continuation. Only then can a reader's
   * bytes come from two downloads, and only then does it hash them itself: a fetch without one serves
   * exactly the bytes its own digest check verified.
   */
  protected abstract readonly mayContinue: boolean;

  /** The blob's size as soon as the upstream announces it (or when the fetch ends). */
  whenSized(): Promise<number> {
    return this.sizeKnown;
  }

  setSize(size: number): void {
    this.size = size;
    this.resolveSize(size);
  }

  /** Now `written` bytes are available. */
  advanceTo(written: number): void {
    this.written = written;
    this.changed();
  }

  finish(error: Error | null, continuation?: Promise<GrowingBlob>): void {
    this.error = error;
    this.done = true;
    if (error && continuation) {
      this.continuation = continuation;
      this.resolveSize(continuation.then((next) => next.whenSized()));
    } else if (error) {
      this.rejectSize(error);
    }
    this.changed();
  }

  private changed(): void {
    this.version++;
    this.emit("progress");
  }

  /** Resolves at the next change, or at once if there was one since `version`. */
  private changeSince(version: number): Promise<void> {
    return this.version !== version ? Promise.resolve() : new Promise((resolve) => this.once("progress", () => resolve()));
  }

  /** Bytes [start, end] (inclusive), delivered as they arrive. */
  reader(range?: ByteRange): Readable {
    let blob: GrowingBlob = this;
    let cursor = blob.cursor();
    let position = range?.start ?? 0;
    const bounded = range?.end !== undefined;
    const algorithm = digestAlgorithm(this.digest);
    const hash = position === 0 && !bounded && this.mayContinue ? createDigester(algorithm) : null;
    const digest = this.digest;
    async function* bytes(): AsyncIterable<Buffer> {
      try {
        for (;;) {
          if (blob.error) {
            if (!blob.continuation) throw blob.error;
            cursor.close();
            blob = await blob.continuation;
            cursor = blob.cursor();
            continue;
          }
          // A read to the end gets the last byte only once the digest has verified, so a corrupt upstream blob
          // reaches the client as a cut transfer, never as a complete one. (A range cannot be verified.)
          const verified = blob.done || bounded;
          const limit = bounded ? range!.end! + 1 : (blob.size ?? Infinity);
          const end = Math.min(limit, verified ? blob.written : blob.written - 1);
          const finished = position >= limit || (blob.done && position >= blob.written);
          if (verified && finished) {
            if (hash && finishDigest(algorithm, hash) !== digest) throw new Error(`the bytes served for ${digest} do not match it`);
            return;
          }
          const before = position;
          const version = blob.version;
          if (position < end) {
            for await (const chunk of cursor.read(position, end)) {
              position += chunk.length;
              hash?.update(chunk);
              // The final chunk goes out only if everything delivered hashes to the digest.
              if (hash && blob.done && position >= blob.written && finishDigest(algorithm, hash.copy()) !== digest) {
                throw new Error(`the bytes served for ${digest} do not match it`);
              }
              yield chunk;
            }
          }
          if (position === before) await blob.changeSince(version);
        }
      } finally {
        cursor.close();
      }
    }
    return Readable.from(bytes(), { objectMode: false, highWaterMark: 256 * 1024 });
  }
}
