import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type StorageClass,
} from "@aws-sdk/client-s3";
import { Readable } from "node:stream";
import type { S3Bucket } from "./s3-bucket";
import { translateError } from "./s3-errors";

const MiB = 1024 * 1024;
/** S3's smallest part, except for the last one. */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's largest part, and its largest single CopyObject. */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
/** Parts sent at once while assembling. */
const CONCURRENCY = 4;

/** A finished object to take bytes from. */
export interface Source {
  path: string;
  size: number;
}

/** An inclusive byte range of one source object. */
export interface Piece {
  path: string;
  start: number;
  end: number;
  /** The piece is the whole source object. */
  whole: boolean;
}

/** One part of the object being assembled: the concatenation of its pieces. */
export interface PartPlan {
  pieces: Piece[];
  size: number;
}

/**
 * Cuts the concatenation of `sources` into valid multipart parts: a source of at least 5 MiB becomes one
 * part (several if it is above maxPartSize, cut evenly so each stays ≥ 5 MiB); sources smaller than that
 * are grouped with the ones after them until the group reaches 5 MiB. Only the last part may be small.
 * (The S3 writer keeps small segments only at the end of an upload, so a group never swallows a big one.)
 */
export function planParts(sources: Source[], maxPartSize: number): PartPlan[] {
  const parts: PartPlan[] = [];
  let group: Piece[] = [];
  let groupSize = 0;
  for (const source of sources) {
    if (source.size === 0) continue;
    if (group.length === 0 && source.size >= MIN_PART_SIZE) {
      const count = Math.ceil(source.size / maxPartSize);
      const step = Math.ceil(source.size / count);
      for (let start = 0; start < source.size; start += step) {
        const end = Math.min(start + step, source.size) - 1;
        parts.push({ pieces: [{ path: source.path, start, end, whole: count === 1 }], size: end - start + 1 });
      }
      continue;
    }
    group.push({ path: source.path, start: 0, end: source.size - 1, whole: true });
    groupSize += source.size;
    if (groupSize >= MIN_PART_SIZE) {
      parts.push({ pieces: group, size: groupSize });
      group = [];
      groupSize = 0;
    }
  }
  if (group.length > 0) parts.push({ pieces: group, size: groupSize });
  for (const part of parts) {
    if (part.size > maxPartSize) throw new Error(`cannot assemble a part of ${part.size} bytes (small segments before a big one)`);
  }
  if (parts.length > MAX_PARTS) throw new Error(`cannot assemble more than ${MAX_PARTS} parts (${parts.length} needed)`);
  return parts;
}

/**
 * Writes the concatenation of finished objects into one object, server-side whenever the store lets us:
 * one part → CopyObject; several → a multipart upload of UploadPartCopy parts. Stores without
 * UploadPartCopy (s3rver, some gateways) answer NotImplemented; from then on this driver streams those
 * parts through itself (GetObject → UploadPart) — slower, never wrong, and never more than a part's
 * stream in flight per part, not in memory.
 */
export class MultipartAssembler {
  /** Whether the store implements UploadPartCopy; learnt from the first answer. */
  private partCopy: boolean | undefined;

  constructor(private readonly driver: S3Bucket) {}

  async assemble(target: string, sources: Source[], storageClass: StorageClass | undefined): Promise<void> {
    const d = this.driver;
    const parts = planParts(sources, d.maxPartSize);
    if (parts.length === 0) {
      await d.send(new PutObjectCommand({ Bucket: d.bucket, Key: d.key(target), Body: Buffer.alloc(0), ContentLength: 0, StorageClass: storageClass }));
      return;
    }
    if (parts.length === 1) {
      const [piece, ...more] = parts[0].pieces;
      if (more.length === 0 && piece.whole) return d.copyObject(piece.path, target, storageClass);
      await d.send(
        new PutObjectCommand({
          Bucket: d.bucket,
          Key: d.key(target),
          Body: this.stream(parts[0].pieces),
          ContentLength: parts[0].size,
          StorageClass: storageClass,
        }),
      );
      return;
    }
    const created = await d.send<{ UploadId?: string }>(
      new CreateMultipartUploadCommand({ Bucket: d.bucket, Key: d.key(target), StorageClass: storageClass }),
    );
    const uploadId = created.UploadId!;
    try {
      const completed: CompletedPart[] = new Array(parts.length);
      let next = 0;
      const worker = async () => {
        while (next < parts.length) {
          const index = next++;
          completed[index] = { PartNumber: index + 1, ETag: await this.part(target, uploadId, index + 1, parts[index]) };
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, parts.length) }, worker));
      await d.send(
        new CompleteMultipartUploadCommand({ Bucket: d.bucket, Key: d.key(target), UploadId: uploadId, MultipartUpload: { Parts: completed } }),
      );
    } catch (err) {
      await this.abort(target, uploadId);
      throw err;
    }
  }

  /** @internal Best effort: stores without AbortMultipartUpload keep the parts until a lifecycle rule cleans up. */
  async abort(target: string, uploadId: string): Promise<void> {
    const d = this.driver;
    try {
      await d.client.send(new AbortMultipartUploadCommand({ Bucket: d.bucket, Key: d.key(target), UploadId: uploadId }));
    } catch (err) {
      d.logger?.debug({ err, target }, "could not abort a multipart upload; a bucket lifecycle rule should clean it up");
    }
  }

  private async part(target: string, uploadId: string, partNumber: number, plan: PartPlan): Promise<string> {
    const d = this.driver;
    if (plan.pieces.length === 1 && this.partCopy !== false) {
      const piece = plan.pieces[0];
      try {
        const res = await d.client.send(
          new UploadPartCopyCommand({
            Bucket: d.bucket,
            Key: d.key(target),
            UploadId: uploadId,
            PartNumber: partNumber,
            CopySource: d.copySource(piece.path),
            CopySourceRange: `bytes=${piece.start}-${piece.end}`,
          }),
        );
        this.partCopy = true;
        return res.CopyPartResult!.ETag!;
      } catch (err) {
        if (!isNotImplemented(err)) throw translateError(err, piece.path);
        if (this.partCopy === undefined) d.logger?.info("the object store has no UploadPartCopy: assembling uploads by streaming parts through Berth");
        this.partCopy = false;
      }
    }
    const res = await d.send<{ ETag?: string }>(
      new UploadPartCommand({
        Bucket: d.bucket,
        Key: d.key(target),
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: this.stream(plan.pieces),
        ContentLength: plan.size,
      }),
    );
    return res.ETag!;
  }

  /** The pieces' bytes, one GetObject after another. */
  private stream(pieces: Piece[]): Readable {
    const d = this.driver;
    async function* all(): AsyncIterable<Buffer> {
      for (const piece of pieces) yield* (await d.readObject(piece.path, { start: piece.start, end: piece.end })) as AsyncIterable<Buffer>;
    }
    return Readable.from(all(), { objectMode: false });
  }
}

function isNotImplemented(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === "NotImplemented" || e?.Code === "NotImplemented" || e?.$metadata?.httpStatusCode === 501;
}
