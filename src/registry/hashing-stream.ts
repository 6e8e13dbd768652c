import { Transform, type Readable, type TransformCallback } from "node:stream";
import type { Hash } from "node:crypto";

/** Passes bytes through unchanged while feeding them to a hash, so content is digested as it streams. */
export class HashingTap extends Transform {
  bytes = 0;

  constructor(private readonly hash: Hash) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/** `source` piped through `tap`, with the source's failure (e.g. a client that hangs up) passed on. */
export function tapped(source: Readable, tap: HashingTap): Readable {
  source.once("error", (err) => tap.destroy(err));
  return source.pipe(tap);
}
