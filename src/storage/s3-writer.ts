import { randomUUID } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
} from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import type { FileWriter, WriterState } from "./driver";
import type { S3Bucket } from "./s3-bucket";
import { MAX_PARTS, MIN_PART_SIZE, type MultipartAssembler } from "./s3-multipart";

/** One immutable object holding a stretch of an unfinished file. */
export interface Segment {
  path: string;
  size: number;
}

/** What an S3 writer needs to continue: kept as JSON in the upload's database row. */
export interface S3WriterState extends WriterState {
  driver: "s3";
  size: number;
  segments: Segment[];
}

export function isS3WriterState(state: WriterState): state is S3WriterState {
  return (state as { driver?: unknown }).driver === "s3" && Array.isArray((state as { segments?: unknown }).segments);
}

/** At most this many small segments wait at the end of an upload before they are merged anyway. */
const MAX_SMALL_RUN = 32;

/**
 * An appendable file on S3, resumable from JSON state by any process.
 *
 * Why not simply one S3 multipart upload per file, parts appended as they come? Three reasons:
 *  1. An unfinished multipart upload cannot be read: S3 has no call that returns the bytes of parts not
 *     yet completed. But the upload service must read an unfinished upload back whenever its running
 *     sha256 lives in another replica (or died with a restart), to re-hash the bytes so far.
 *  2. Every part but the last must be at least 5 MiB, and clients PATCH chunks of any size; the bytes of
 *     a small chunk have to wait somewhere durable, not in one process's memory, until enough follow.
 *  3. ListParts (needed to rediscover parts) is missing from several S3-compatible servers.
 *
 * So each append() writes one new immutable object, a *segment*, under `<path>.segments/` with a fresh
 * random name: a PutObject when the chunk fits in one part, otherwise a multipart upload of its own,
 * streamed in parts of `partSize` (the only memory an append holds: about two parts). The state
 * ({driver:"s3", size, segments:[{path,size}]}) lists the segments in order; reading the file is reading
 * them one after the other (S3Driver.reader with the state). Small segments (< 5 MiB) may only trail:
 * when an append would put data after them, they are read back (a few MiB at most) and rewritten as the
 * head of the new segment, which replaces them in the state. So at commit every segment but the trailing
 * small ones is a valid multipart part source, and the commit is server-side: CopyObject for one segment,
 * else a multipart upload of UploadPartCopy parts (see MultipartAssembler), straight into the target.
 *
 * Failure and concurrency are simple because nothing is ever overwritten: an append that fails (client
 * gone, object store down) leaves the old state valid and its half-written segment unreferenced; a state
 * that lost the race to the database (two replicas appending at one offset) points at other objects than
 * the winner's. Unreferenced segments are removed with the rest at commit or cancel (`<path>.segments/`),
 * or by the upload directory's delete. The bytes verified against the digest are thus exactly the bytes
 * committed, whichever replica did what.
 */
export class S3Writer implements FileWriter {
  size: number;
  private segments: Segment[];
  private closed = false;

  constructor(
    private readonly driver: S3Bucket & { readonly assembler: MultipartAssembler },
    private readonly path: string,
    state: WriterState | null,
  ) {
    if (state !== null && isS3WriterState(state)) {
      const total = state.segments.reduce((sum, s) => sum + s.size, 0);
      const ours = `${path}.segments/`;
      if (total !== state.size || state.segments.some((s) => !s.path.startsWith(ours))) {
        throw new Error(`inconsistent S3 writer state for ${path}`);
      }
      this.size = state.size;
      this.segments = state.segments.map((s) => ({ path: s.path, size: s.size }));
    } else if (state === null || state.size === 0) {
      this.size = 0;
      this.segments = [];
    } else {
      throw new Error(`cannot resume ${path}: its writer state was not made by the S3 driver`);
    }
  }

  async append(body: Readable): Promise<number> {
    this.assertOpen();
    const d = this.driver;
    const input = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const head = await take(input, d.partSize);
    if (head.size === 0 && head.done) return 0;

    let run = 0;
    while (run < this.segments.length && this.segments[this.segments.length - 1 - run].size < MIN_PART_SIZE) run++;
    const small = this.segments.slice(this.segments.length - run);
    const smallSize = small.reduce((sum, s) => sum + s.size, 0);
    const merge = run > 0 && (!head.done || smallSize + head.size >= MIN_PART_SIZE || run >= MAX_SMALL_RUN);
    const prefix = merge ? await this.readAll(small) : [];

    const segment = `${this.path}.segments/${String(this.segments.length).padStart(5, "0")}-${randomUUID()}`;
    let written: number;
    if (head.done) {
      const data = Buffer.concat([...prefix, ...head.chunks]);
      await d.send(new PutObjectCommand({ Bucket: d.bucket, Key: d.key(segment), Body: data, ContentLength: data.length }));
      written = head.size;
    } else {
      written = (await this.streamSegment(segment, [...prefix, ...head.chunks], input)) - (merge ? smallSize : 0);
    }
    const added = { path: segment, size: (merge ? smallSize : 0) + written };
    this.segments = merge ? [...this.segments.slice(0, this.segments.length - run), added] : [...this.segments, added];
    this.size += written;
    return written;
  }

  async suspend(): Promise<WriterState> {
    this.closed = true;
    return this.checkpoint();
  }

  // Segments are immutable and a merge writes a new one without deleting those it replaces, so an older
  // checkpoint stays readable until commit or cancel deletes `<path>.segments/`.
  checkpoint(): WriterState {
    const state: S3WriterState = { driver: "s3", size: this.size, segments: this.segments.map((s) => ({ ...s })) };
    return state;
  }

  async commit(to?: string): Promise<void> {
    this.assertOpen();
    this.closed = true;
    const d = this.driver;
    await d.assembler.assemble(to ?? this.path, this.segments, d.storageClass);
    // The file is in place: left-overs are only garbage, and the upload directory's delete sweeps them too.
    await d.deletePrefix(`${this.path}.segments/`).catch((err: unknown) => d.logger?.warn({ err, path: this.path }, "could not delete upload segments"));
  }

  async cancel(): Promise<void> {
    this.closed = true;
    const d = this.driver;
    await d.deletePrefix(`${this.path}.segments/`);
    await d.send(new DeleteObjectCommand({ Bucket: d.bucket, Key: d.key(this.path) }), this.path);
  }

  /** Writes `first` and the rest of input as one object through a multipart upload; resolves with its size. */
  private async streamSegment(segment: string, first: Buffer[], input: AsyncIterator<Buffer>): Promise<number> {
    const d = this.driver;
    const key = d.key(segment);
    const created = await d.send<{ UploadId?: string }>(new CreateMultipartUploadCommand({ Bucket: d.bucket, Key: key }));
    const uploadId = created.UploadId!;
    const parts: CompletedPart[] = [];
    let total = 0;
    let inflight: Promise<void> | undefined;
    const send = (chunks: Buffer[], partNumber: number): Promise<void> => {
      if (partNumber > MAX_PARTS) throw new Error(`a single append may not exceed ${MAX_PARTS} parts`);
      const body = Buffer.concat(chunks);
      total += body.length;
      const sent = d
        .send<{ ETag?: string }>(new UploadPartCommand({ Bucket: d.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }))
        .then((res) => {
          parts[partNumber - 1] = { PartNumber: partNumber, ETag: res.ETag };
        });
      sent.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled meanwhile
      return sent;
    };
    try {
      // One part uploads while the next one is read from the client.
      let pending = first;
      let partNumber = 0;
      for (;;) {
        const next = await take(input, this.partSizeFor(partNumber + 2));
        await inflight;
        inflight = send(pending, ++partNumber);
        if (next.size === 0) break;
        pending = next.chunks;
        if (next.done) {
          await inflight;
          inflight = send(pending, ++partNumber);
          break;
        }
      }
      await inflight;
      await d.send(new CompleteMultipartUploadCommand({ Bucket: d.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      return total;
    } catch (err) {
      await inflight?.catch(() => undefined);
      await d.assembler.abort(segment, uploadId);
      throw err;
    }
  }

  /** Parts grow with their number, so one append can reach S3's object size limit within 10,000 parts. */
  private partSizeFor(partNumber: number): number {
    return Math.min(this.driver.partSize * 2 ** Math.floor((partNumber - 1) / 1000), this.driver.maxPartSize);
  }

  private async readAll(segments: Segment[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (const segment of segments) {
      for await (const chunk of await this.driver.readObject(segment.path, { start: 0, end: segment.size - 1 })) out.push(chunk as Buffer);
    }
    return out;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("writer is closed");
  }
}

/** Reads from input until at least `bytes` arrived or it ended. */
async function take(input: AsyncIterator<Buffer>, bytes: number): Promise<{ chunks: Buffer[]; size: number; done: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const next = await input.next();
    if (next.done) return { chunks, size, done: true };
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    chunks.push(chunk);
    size += chunk.length;
  }
  return { chunks, size, done: false };
}
