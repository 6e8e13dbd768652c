import { OciError } from "../kernel/errors";
import { StorageUnavailableError } from "../storage/driver";

/**
 * Anything that is not an OciError is an internal failure: logged by the caller, never leaked. A storage
 * backend that is down or overloaded is 503 UNAVAILABLE, which clients retry.
 */
export function toOciError(err: unknown): OciError {
  if (err instanceof OciError) return err;
  if (err instanceof StorageUnavailableError) {
    return new OciError("UNAVAILABLE", "the storage backend is unavailable; retry later", { cause: err, headers: { "Retry-After": "5" } });
  }
  return new OciError("UNKNOWN", undefined, { cause: err });
}
