import { Transform, type TransformCallback } from "node:stream";

/**
 * What a CountingStream asks of each chunk before passing it on: nothing (pass it), an error (fail the
 * stream: a size bound passed), or a promise of either (room to reserve before the bytes go further).
 */
export type ChunkCheck = (chunk: Buffer, total: number) => Error | null | void | Promise<Error | null | void>;

/**
 * Passes bytes through unchanged, counting them and letting `check` see each chunk (to hash it, or to
 * refuse the stream once a bound is passed). The one byte-counting stream of uploads, imports and hashes.
 */
export class CountingStream extends Transform {
  bytes = 0;

  constructor(
    private readonly check: ChunkCheck = () => null,
    highWaterMark?: number,
  ) {
    super(highWaterMark ? { highWaterMark } : {});
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    let verdict: ReturnType<ChunkCheck>;
    try {
      verdict = this.check(chunk, this.bytes);
    } catch (err) {
      return callback(err as Error);
    }
    if (verdict instanceof Promise) verdict.then((err) => callback(err ?? null, chunk), (err: Error) => callback(err));
    else callback(verdict ?? null, chunk);
  }
}
