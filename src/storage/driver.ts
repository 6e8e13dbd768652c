import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * A dumb key/value store over '/'-separated paths. Layout, hashing and the upload state machine live
 * above it (src/registry), so every driver stays small and one shared test suite runs against each.
 */
export interface StorageDriver {
  readonly name: string;
  /** Throws PathNotFoundError when nothing is stored at path. */
  stat(path: string): Promise<FileInfo>;
  /**
   * Opens the content for reading, from `start` up to and including `end`; throws PathNotFoundError.
   * For a file a writer is still appending to, pass the state that writer last suspended with: the
   * bytes read are then exactly the ones that state accounts for, even if the driver keeps unfinished
   * files in pieces (S3) or another process is appending at the same time.
   */
  reader(path: string, range?: ByteRange, state?: WriterState | null): Promise<Readable>;
  getContent(path: string): Promise<Buffer>;
  /** Replaces the content at path atomically: readers see the old or the new content, never a mix. */
  putContent(path: string, data: Buffer): Promise<void>;
  /** Opens an appendable file; `state` from a previous writer's suspend() resumes it where that one stopped. */
  writer(path: string, state?: WriterState | null): Promise<FileWriter>;
  /** Moves content into place atomically, replacing whatever is at `to`. */
  move(from: string, to: string): Promise<void>;
  /** Deletes the file or every file under the prefix; deleting what is not there is not an error. */
  delete(path: string): Promise<void>;
  /** Every file path under prefix, in no particular order. */
  list(prefix: string): AsyncIterable<string>;
  /** A URL clients may fetch the content from directly (e.g. presigned S3), or null to serve it ourselves. */
  redirectUrl?(path: string): Promise<string | null>;
}

export interface FileInfo {
  size: number;
  modifiedAt: Date;
}

export interface ByteRange {
  start: number;
  /** Inclusive; omitted means to the end. */
  end?: number;
}

/** Opaque, JSON-serialisable state kept with the upload's database row between requests. */
export type WriterState = { size: number } & Record<string, unknown>;

export interface FileWriter {
  /** Bytes durably appended so far. */
  readonly size: number;
  /** Appends the whole stream; resolves with the bytes appended. On failure, size stays as before. */
  append(body: Readable): Promise<number>;
  /** Stops writing for now and returns what a later writer() needs to continue. */
  suspend(): Promise<WriterState>;
  /**
   * What reader() needs to read the bytes appended so far, from any process, while this writer goes on
   * appending (a mirror fetch shares its growing download this way). The state stays readable until the
   * writer commits or cancels.
   */
  checkpoint(): WriterState;
  /**
   * Finishes the file so it can be read and moved. With `to`, the finished file is put at `to` instead
   * (replacing whatever is there, atomically) and nothing is left at the writer's own path: one step
   * where commit-then-move would cost S3 a second server-side copy of the whole file.
   */
  commit(to?: string): Promise<void>;
  /** Abandons the file and deletes what was written. */
  cancel(): Promise<void>;
}

export class PathNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
    this.name = "PathNotFoundError";
  }
}

/**
 * The object store behind a driver failed in a way that may pass (unreachable, timed out, 5xx, throttled):
 * the API answers 503 UNAVAILABLE and the client may retry; nothing was recorded as done.
 */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

/** Driver keys are relative, '/'-separated and never climb out of the store. */
export function assertValidPath(path: string): void {
  if (path === "" || path.startsWith("/") || path.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw new Error(`invalid storage path: ${JSON.stringify(path)}`);
  }
}

/**
 * A reader that can also write itself to one destination (an HTTP response) more cheaply than a pipe:
 * the filesystem driver's does, reusing two read buffers (see sendFile in filesystem.ts).
 */
export interface SendableReadable extends Readable {
  sendTo(destination: Writable): Promise<void>;
}

/** Writes the reader's bytes to `destination` and ends it, the cheapest way the reader offers. */
export function sendReadable(reader: Readable, destination: Writable): Promise<void> {
  const sendable = reader as Partial<SendableReadable>;
  return typeof sendable.sendTo === "function" ? sendable.sendTo(destination) : pipeline(reader, destination);
}
