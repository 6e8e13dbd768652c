// A minimal ustar writer for image layers and layout archives: regular files, directories and
// symlinks, root-owned, fixed mtime, so the same entries always give the same bytes (and digests).
// File contents are streamed, so multi-MiB layers never sit in memory.
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";

/** Fixed mtime of every entry: 2024-01-01T00:00:00Z. */
export const EPOCH_SECONDS = 1_704_067_200;

export type FileContent =
  | { kind: "bytes"; data: Buffer | string }
  /** Copied from a file on this machine (e.g. /bin/busybox), streamed. */
  | { kind: "host"; path: string }
  /** `size` deterministic pseudo-random bytes from `seed` (mostly incompressible, so sizes are real). */
  | { kind: "random"; size: number; seed: string };

export type TarEntry =
  | { type: "dir"; path: string; mode?: number }
  | { type: "file"; path: string; mode?: number; content: FileContent }
  | { type: "symlink"; path: string; target: string };

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function splitName(name: string): { name: string; prefix: string } {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: "" };
  // ustar stores long paths as prefix + "/" + name (prefix <= 155 bytes, name <= 100 bytes).
  for (let i = name.lastIndexOf("/"); i > 0; i = name.lastIndexOf("/", i - 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100) return { name: rest, prefix };
  }
  throw new Error(`tar path too long for ustar: ${name}`);
}

function tarHeader(name: string, opts: { mode: number; size: number; type: "0" | "2" | "5"; linkname?: string }): Buffer {
  const h = Buffer.alloc(512, 0);
  const { name: n, prefix } = splitName(name);
  h.write(n, 0, 100, "utf8");
  h.write(octal(opts.mode & 0o7777, 8), 100, 8, "ascii");
  h.write(octal(0, 8), 108, 8, "ascii"); // uid
  h.write(octal(0, 8), 116, 8, "ascii"); // gid
  h.write(octal(opts.size, 12), 124, 12, "ascii");
  h.write(octal(EPOCH_SECONDS, 12), 136, 12, "ascii");
  h.write("        ", 148, 8, "ascii"); // checksum is computed with this field as spaces
  h.write(opts.type, 156, 1, "ascii");
  if (opts.linkname) {
    if (Buffer.byteLength(opts.linkname) > 100) throw new Error(`symlink target too long: ${opts.linkname}`);
    h.write(opts.linkname, 157, 100, "utf8");
  }
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write("root", 265, 32, "ascii");
  h.write("root", 297, 32, "ascii");
  h.write(octal(0, 8), 329, 8, "ascii");
  h.write(octal(0, 8), 337, 8, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
  return h;
}

/** Deterministic pseudo-random stream: AES-128-CTR keystream keyed by sha256(seed). */
async function* randomContent(size: number, seed: string): AsyncGenerator<Buffer> {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
  const chunk = 64 * 1024;
  const zeros = Buffer.alloc(chunk);
  for (let left = size; left > 0; left -= chunk) {
    const out = cipher.update(zeros);
    // A short repeated tail per chunk gives gzip a little to do (~10%) while staying mostly incompressible.
    out.fill("berth", chunk - 6 * 1024);
    yield left >= chunk ? out : out.subarray(0, left);
  }
}

async function contentSize(c: FileContent): Promise<number> {
  switch (c.kind) {
    case "bytes":
      return Buffer.byteLength(c.data);
    case "host":
      return (await stat(c.path)).size;
    case "random":
      return c.size;
  }
}

async function* contentStream(c: FileContent): AsyncGenerator<Buffer> {
  switch (c.kind) {
    case "bytes":
      yield Buffer.from(c.data);
      return;
    case "host":
      for await (const b of createReadStream(c.path)) yield b as Buffer;
      return;
    case "random":
      yield* randomContent(c.size, c.seed);
      return;
  }
}

/** The uncompressed layer tar as a byte stream. */
export async function* tarStream(entries: readonly TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    const p = e.path.replace(/^\.?\/+/, "");
    if (e.type === "dir") {
      yield tarHeader(p.endsWith("/") ? p : `${p}/`, { mode: e.mode ?? 0o755, size: 0, type: "5" });
    } else if (e.type === "symlink") {
      yield tarHeader(p, { mode: 0o777, size: 0, type: "2", linkname: e.target });
    } else {
      const size = await contentSize(e.content);
      yield tarHeader(p, { mode: e.mode ?? 0o644, size, type: "0" });
      let written = 0;
      for await (const b of contentStream(e.content)) {
        written += b.length;
        yield b;
      }
      if (written !== size) throw new Error(`${p}: wrote ${written} bytes, header said ${size}`);
      if (size % 512 !== 0) yield Buffer.alloc(512 - (size % 512));
    }
  }
  yield Buffer.alloc(1024); // end-of-archive: two zero blocks
}
