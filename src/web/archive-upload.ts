import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { Request, Response } from "express";
import multer, { MulterError, type StorageEngine } from "multer";
import { OciError } from "../http/errors";

/** Room for the multipart framing and the few form fields around the archive itself. */
export const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

/** What multer may accept around the archive: one file, a few small fields. */
const FORM_LIMITS = { files: 1, fields: 20, parts: 30, fieldSize: 64 * 1024 };

/** A browser's form upload (parsed by multer), as opposed to a raw body (curl --data-binary). */
export function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\/form-data/i.test(String(req.headers["content-type"] ?? ""));
}

/**
 * The uploaded archive as a stream, handed to `consume` (the import pipeline): the file of a multipart form
 * or the raw body. A raw body is held to the route's body policy (web.importMaxBytes, src/web/routes.ts);
 * a form's file is held to `maxBytes` by multer (413), the form's framing by the policy.
 */
export async function receiveArchive<T>(req: IncomingMessage, res: ServerResponse, maxBytes: number, consume: (stream: Readable) => Promise<T>): Promise<T> {
  if (!isMultipart(req)) return consume(req);
  const tooLarge = () => new OciError("SIZE_INVALID", `the archive is larger than the limit of ${maxBytes} bytes (web.importMaxBytes)`, { status: 413 });
  const storage = new ArchiveStorage(consume);
  const upload = multer({ storage, limits: { ...FORM_LIMITS, fileSize: maxBytes } }).any();
  await new Promise<void>((resolve, reject) =>
    upload(req as Request, res as Response, (err?: unknown) => {
      if (!err) resolve();
      // The pipeline's own failures (a bad archive, a storage error) pass through as they are.
      else reject(storage.failed(err) ? err : formError(err, tooLarge));
    }),
  );
  if (!storage.result) throw new OciError("INVALID_REQUEST", 'the upload holds no file (send the archive as the form field "file")');
  return storage.result.value;
}

/**
 * A multer storage engine that stores nothing itself: it streams the file straight into `consume`, so the
 * archive is never held whole in memory (the pipeline unpacks it into its own work directory).
 */
class ArchiveStorage<T> implements StorageEngine {
  result: { value: T } | null = null;
  private failure: unknown = undefined;

  constructor(private readonly consume: (stream: Readable) => Promise<T>) {}

  _handleFile(_req: Request, file: Express.Multer.File, callback: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    this.consume(file.stream).then(
      (value) => {
        this.result = { value };
        callback(null, {});
      },
      (err: unknown) => {
        this.failure = err;
        callback(err);
      },
    );
  }

  failed(err: unknown): boolean {
    return this.failure !== undefined && err === this.failure;
  }

  /** Called when the upload fails after the file was taken: the caller's work directory is removed by it. */
  _removeFile(_req: Request, _file: Express.Multer.File, callback: (error: Error | null) => void): void {
    this.result = null;
    callback(null);
  }
}

/** multer's limits as the JSON API's errors: a size over its limit is 413, a malformed form 400. */
function formError(err: unknown, tooLarge: () => OciError): unknown {
  if (!(err instanceof MulterError)) {
    // busboy's complaints about the form itself (no boundary, truncated parts).
    return new OciError("INVALID_REQUEST", `bad multipart upload: ${(err as Error).message}`);
  }
  switch (err.code) {
    case "LIMIT_FILE_SIZE":
      return tooLarge();
    case "LIMIT_FIELD_VALUE":
    case "LIMIT_FIELD_KEY":
      return new OciError("SIZE_INVALID", `bad multipart upload: ${err.message.toLowerCase()} (form fields are limited to ${FORM_LIMITS.fieldSize} bytes)`, { status: 413 });
    case "LIMIT_FILE_COUNT":
      return new OciError("INVALID_REQUEST", "bad multipart upload: send one archive per import");
    default:
      return new OciError("INVALID_REQUEST", `bad multipart upload: ${err.message.toLowerCase()}`);
  }
}
