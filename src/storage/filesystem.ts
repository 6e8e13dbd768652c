import { constants } from "node:fs";
import { mkdir, open, opendir, readFile, rename, rm, rmdir, stat, writeFile, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { randomUUID } from "node:crypto";
import {
  assertValidPath,
  PathNotFoundError,
  type ByteRange,
  type FileInfo,
  type FileWriter,
  type SendableReadable,
  type StorageDriver,
  type WriterState,
} from "./driver";

const READ_CHUNK = 1024 * 1024;
const WRITE_BATCH = 1024 * 1024;

export interface FilesystemDriverOptions {
  root: string;
  /** fsync files before they become visible, so a crash cannot leave a committed blob truncated. */
  fsync?: boolean;
}

export class FilesystemDriver implements StorageDriver {
  readonly name = "filesystem";
  private readonly root: string;
  private readonly fsync: boolean;

  constructor(options: FilesystemDriverOptions) {
    this.root = options.root;
    this.fsync = options.fsync ?? true;
  }

  private resolve(path: string): string {
    assertValidPath(path);
    return join(this.root, path);
  }

  async stat(path: string): Promise<FileInfo> {
    try {
      const s = await stat(this.resolve(path));
      if (!s.isFile()) throw new PathNotFoundError(path);
      return { size: s.size, modifiedAt: s.mtime };
    } catch (err) {
      throw notFound(err, path);
    }
  }

  // The file at path holds at least the bytes any state accounts for; beyond them an append may be under way.
  async reader(path: string, range?: ByteRange, state?: WriterState | null): Promise<Readable> {
    // Open first so a missing file is reported before any response headers go out.
    let handle: FileHandle;
    try {
      handle = await open(this.resolve(path), constants.O_RDONLY);
    } catch (err) {
      throw notFound(err, path);
    }
    // 1 MiB reads: a quarter of the thread-pool round trips of 256 KiB, for the same memory per stream.
    const end = state ? Math.min(range?.end ?? Infinity, state.size - 1) : range?.end;
    const stream = handle.createReadStream({ start: range?.start, end, highWaterMark: READ_CHUNK, autoClose: true });
    const sendable: SendableReadable = Object.assign(stream, {
      // Only before anything was read through the stream: the handle then still is at the range's start.
      sendTo: (destination: Writable) => sendFile(handle, range?.start ?? 0, end ?? Infinity, destination).finally(() => stream.destroy()),
    });
    return sendable;
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await readFile(this.resolve(path));
    } catch (err) {
      throw notFound(err, path);
    }
  }

  async putContent(path: string, data: Buffer): Promise<void> {
    const target = this.resolve(path);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, data, { flush: this.fsync });
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async writer(path: string, state?: WriterState | null): Promise<FileWriter> {
    const file = this.resolve(path);
    await mkdir(dirname(file), { recursive: true });
    // A request that failed half-way may have appended bytes the upload never accepted: cut them off.
    const size = state?.size ?? 0;
    const handle = await open(file, constants.O_RDWR | constants.O_CREAT | (size === 0 ? constants.O_TRUNC : 0));
    if (size > 0) await handle.truncate(size);
    return new FilesystemWriter(handle, file, size, this.fsync, (to) => this.resolve(to));
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.resolve(from);
    const target = this.resolve(to);
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(source, target);
    } catch (err) {
      throw notFound(err, from);
    }
  }

  async delete(path: string): Promise<void> {
    const target = this.resolve(path);
    // Most deletions are of an upload's folder, empty once its data went into place: one rmdir, where a
    // recursive rm first stats it twice (each a thread-pool trip on every push).
    try {
      await rmdir(target);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    }
    await rm(target, { recursive: true, force: true });
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = prefix.replace(/\/+$/, "");
    yield* walk(base === "" ? this.root : this.resolve(base), base);
  }
}

/**
 * Writes bytes [start, end] of the file to `destination` and ends it. A Readable has to hand every chunk
 * to its consumer in a fresh buffer; here two 1 MiB buffers take turns, each refilled only once its write
 * has completed. Profiles of blob GETs put a quarter of the CPU in what that saves: allocating, faulting
 * in and collecting a new megabyte per chunk. The buffers outlive the request (up to 16 are kept spare), so
 * short reads such as 1 MiB Range requests do not fault in two fresh megabytes each either.
 */
async function sendFile(handle: FileHandle, start: number, end: number, destination: Writable): Promise<void> {
  const buffers = [takeReadBuffer(), takeReadBuffer()];
  const write = (chunk: Buffer) => new Promise<void>((resolve, reject) => destination.write(chunk, (err) => (err ? reject(err) : resolve())));
  // Listening from the start, so that the destination failing part-way is our error, not an unhandled one.
  const ended = finished(destination);
  ended.catch(() => undefined);
  let writing = Promise.resolve();
  try {
    for (let position = start, turn = 0; position <= end; turn++) {
      // This buffer's previous write (two turns ago) was awaited before the last one was issued.
      const buffer = buffers[turn % 2]!;
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position + 1), position);
      if (bytesRead === 0) break; // end of file: `end` was open-ended
      position += bytesRead;
      await writing;
      if (destination.destroyed) throw new Error("the destination closed before the file was sent");
      writing = write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
    }
    await writing;
    // Every write has completed: the socket holds no reference to the buffers any more.
    spareReadBuffers.push(...buffers.splice(0, SPARE_READ_BUFFERS - spareReadBuffers.length));
    destination.end();
    await ended;
  } catch (err) {
    // A write may still be in flight: these buffers are left to the garbage collector.
    destination.destroy(err as Error);
    throw err;
  }
}

const SPARE_READ_BUFFERS = 16;
const spareReadBuffers: Buffer[] = [];

function takeReadBuffer(): Buffer {
  return spareReadBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);
}

class FilesystemWriter implements FileWriter {
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly file: string,
    public size: number,
    private readonly fsync: boolean,
    private readonly resolve: (path: string) => string,
  ) {}

  async append(body: Readable): Promise<number> {
    this.assertOpen();
    // Socket chunks are ~64 KiB: gather them into ~1 MiB vectored writes, one thread-pool trip each, and
    // keep reading the socket while the previous batch is written (one write in flight at a time).
    let issued = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let writing: Promise<void> = Promise.resolve();
    const writeAll = async (buffers: Buffer[], position: number, left: number) => {
      while (left > 0) {
        const { bytesWritten } = await this.handle.writev(buffers, position);
        position += bytesWritten;
        left -= bytesWritten;
        buffers = skipBytes(buffers, bytesWritten);
      }
    };
    const flush = async () => {
      await writing;
      writing = writeAll(pending, this.size + issued, pendingBytes);
      writing.catch(() => undefined); // awaited by the next flush or at the end
      issued += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    try {
      for await (const chunk of body) {
        pending.push(chunk as Buffer);
        pendingBytes += (chunk as Buffer).length;
        if (pendingBytes >= WRITE_BATCH) await flush();
      }
      if (pendingBytes > 0) await flush();
      await writing;
    } catch (err) {
      await writing.catch(() => undefined);
      // Keep the file consistent with `size`; the caller decides whether the upload survives.
      await this.handle.truncate(this.size).catch(() => undefined);
      throw err;
    }
    this.size += issued;
    return issued;
  }

  async suspend(): Promise<WriterState> {
    await this.close();
    return this.checkpoint();
  }

  checkpoint(): WriterState {
    return { size: this.size };
  }

  async commit(to?: string): Promise<void> {
    this.assertOpen();
    const target = to === undefined ? undefined : this.resolve(to);
    if (this.fsync) await this.handle.datasync();
    await this.close();
    if (target !== undefined) {
      await mkdir(dirname(target), { recursive: true });
      await rename(this.file, target);
    }
  }

  async cancel(): Promise<void> {
    await this.close();
    await rm(this.file, { force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("writer is closed");
  }
}

async function* walk(dir: string, key: string): AsyncIterable<string> {
  let entries;
  try {
    entries = await opendir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return;
    throw err;
  }
  for await (const entry of entries) {
    const childKey = key ? `${key}/${entry.name}` : entry.name;
    if (entry.isDirectory()) yield* walk(join(dir, entry.name), childKey);
    else if (entry.isFile()) yield childKey;
  }
}

/** The buffers that remain after the first `bytes` of them were written (short writes are rare but legal). */
function skipBytes(buffers: Buffer[], bytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (bytes >= b.length) {
      bytes -= b.length;
      continue;
    }
    out.push(bytes > 0 ? b.subarray(bytes) : b);
    bytes = 0;
  }
  return out;
}

function notFound(err: unknown, path: string): unknown {
  return isErrno(err, "ENOENT") || isErrno(err, "EISDIR") || isErrno(err, "ENOTDIR") ? new PathNotFoundError(path) : err;
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}
