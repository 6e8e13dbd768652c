import { PathNotFoundError, StorageUnavailableError } from "./driver";

/** How the S3 driver reports the object store's failures to the layers above. */

const TRANSIENT_NAMES = new Set([
  "InternalError",
  "ServiceUnavailable",
  "SlowDown",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "ThrottlingException",
  "OperationAborted",
]);
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** PathNotFoundError for a missing key, StorageUnavailableError for what may pass, else as is. */
export function translateError(err: unknown, path: string | undefined): unknown {
  if (err instanceof PathNotFoundError || err instanceof StorageUnavailableError) return err;
  const name = nameOf(err);
  const status = statusOf(err);
  if (path !== undefined && (name === "NoSuchKey" || name === "NotFound" || (status === 404 && name !== "NoSuchBucket" && name !== "NoSuchUpload"))) {
    return new PathNotFoundError(path);
  }
  // The SDK may hand a network error over re-wrapped, with its code only in the message.
  const message = typeof (err as { message?: unknown } | null)?.message === "string" ? (err as Error).message : "";
  const ownCode = (err as { code?: unknown } | null)?.code;
  const code = typeof ownCode === "string" ? ownCode : /\b(E[A-Z_]{4,})\b/.exec(message)?.[1];
  const aborted = /aborted|socket hang up|premature close/i.test(message);
  if (
    (status !== undefined && (status >= 500 || status === 429)) ||
    TRANSIENT_NAMES.has(name) ||
    (code !== undefined && TRANSIENT_CODES.has(code)) ||
    (status === undefined && aborted)
  ) {
    const what = [name === "Error" ? undefined : name, code, status].filter(Boolean).join(" ");
    return new StorageUnavailableError(`object store unavailable (${what || message})`, { cause: err });
  }
  return err;
}

export function nameOf(err: unknown): string {
  return typeof err === "object" && err !== null && typeof (err as { name?: unknown }).name === "string" ? (err as { name: string }).name : "";
}

export function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}
