import type { Readable } from "node:stream";
import type { Hash } from "node:crypto";
import { CountingStream } from "../kernel/counting-stream";

/** Passes bytes through unchanged while feeding them to a hash, so content is digested as it streams. */
export class HashingTap extends CountingStream {
  constructor(hash: Hash) {
    super((chunk) => {
      hash.update(chunk);
    }, 256 * 1024);
  }
}

/** `source` piped through `tap`, with the source's failure (e.g. a client that hangs up) passed on. */
export function tapped(source: Readable, tap: HashingTap): Readable {
  source.once("error", (err) => tap.destroy(err));
  return source.pipe(tap);
}
