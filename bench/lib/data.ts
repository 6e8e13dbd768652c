// Deterministic pseudo-random payloads (AES-128-CTR keystream keyed by the seed): fast to make
// (GB/s), incompressible, and distinct per seed, so every push in a run uploads new content.
import { createCipheriv, createHash } from "node:crypto";
import { MiB } from "./stats";

function cipherFor(seed: string) {
  const key = createHash("sha256").update(seed).digest();
  return createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
}

/** `size` pseudo-random bytes in one buffer. */
export function randomBuffer(size: number, seed: string): Buffer {
  const cipher = cipherFor(seed);
  const out = Buffer.allocUnsafe(size);
  const zeros = Buffer.alloc(Math.min(size, 4 * MiB));
  for (let at = 0; at < size; at += zeros.length) {
    const n = Math.min(zeros.length, size - at);
    cipher.update(zeros.subarray(0, n)).copy(out, at);
  }
  return out;
}

/** The same bytes as randomBuffer(size, seed), as a stream of `chunk`-sized buffers (never all in memory). */
export async function* randomChunks(size: number, seed: string, chunk = MiB): AsyncGenerator<Buffer> {
  const cipher = cipherFor(seed);
  const zeros = Buffer.alloc(chunk);
  for (let left = size; left > 0; left -= chunk) {
    yield cipher.update(left >= chunk ? zeros : zeros.subarray(0, left));
  }
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** A blob ready to push: bytes and their digest. */
export interface Payload {
  data: Buffer;
  digest: string;
}

export function payload(size: number, seed: string): Payload {
  const data = randomBuffer(size, seed);
  return { data, digest: sha256(data) };
}
