import { OciError } from "../http/errors";
import { isDigestLike } from "../kernel/digest";
import { DomainError } from "../kernel/errors";
import type { PageRequest } from "../metadata/store";
import type { ChunkRange } from "../registry/upload-service";
import type { ByteRange } from "../storage/driver";

/** Everything a request says, turned into typed values once, here at the boundary. */

import { parseManifestReference, type ManifestReference } from "../kernel/references";

export { parseManifestReference };

/**
 * A manifest reference to read (GET, HEAD): one that is neither a tag nor a digest names no manifest, so
 * it is unknown (404), as the CNCF reference registry answers, rather than a malformed request.
 */
export function parseManifestLookup(value: string): ManifestReference {
  try {
    return parseManifestReference(value);
  } catch (err) {
    throw isMalformedReference(err) ? unknownReference(value, err) : err;
  }
}

/**
 * A manifest reference to delete: like the reference registry, a malformed digest is refused
 * (400 DIGEST_INVALID) while a string that is no tag either names nothing to delete (404).
 */
export function parseManifestDeletion(value: string): ManifestReference {
  try {
    return parseManifestReference(value);
  } catch (err) {
    throw isMalformedReference(err) && !isDigestLike(value) ? unknownReference(value, err) : err;
  }
}

function isMalformedReference(err: unknown): err is DomainError {
  return err instanceof DomainError && (err.code === "TagInvalid" || err.code === "DigestInvalid");
}

function unknownReference(value: string, cause: DomainError): DomainError {
  return new DomainError("ManifestUnknown", `no manifest can be named ${value.slice(0, 140)}: it is neither a tag nor a digest`, { cause });
}

/** PATCH Content-Range: "start-end", also accepting the "bytes " / "bytes=" prefix and "/total" some clients send. */
export function parseContentRange(header: string | undefined): ChunkRange | null {
  if (header === undefined) return null;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw new OciError("RANGE_INVALID", `malformed Content-Range: ${header.slice(0, 100)}`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new OciError("RANGE_INVALID", `invalid Content-Range: ${header.slice(0, 100)}`);
  }
  return { start, end };
}

/**
 * GET Range for blobs: one "bytes=" range (first-last, first-, or -suffix). Returns null to serve the whole
 * blob (no header, or several ranges, which RFC 9110 lets us ignore); throws 416 when unsatisfiable.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | null {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) {
    if (/^bytes=[\d\s,-]+$/.test(header.trim())) return null;
    throw unsatisfiable(header, size);
  }
  const [, first, last] = m;
  let start: number;
  let end: number;
  if (first === "") {
    if (last === "") throw unsatisfiable(header, size);
    const suffix = Number(last);
    if (suffix === 0) throw unsatisfiable(header, size);
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== "" && Number(last) < start) throw unsatisfiable(header, size);
  }
  if (start >= size) throw unsatisfiable(header, size);
  return { start, end };
}

function unsatisfiable(header: string, size: number): OciError {
  return new OciError("RANGE_INVALID", `unsatisfiable range: ${header.slice(0, 100)}`, {
    headers: { "Content-Range": `bytes */${size}` },
  });
}

/** `n` and `last` for tag lists and the catalog; more than maxLimit is served as maxLimit (with a Link). */
export function parsePage(query: URLSearchParams, defaultLimit: number, maxLimit: number): PageRequest {
  const n = query.get("n");
  let limit = defaultLimit;
  if (n !== null) {
    if (!/^\d{1,9}$/.test(n)) throw new OciError("PAGINATION_NUMBER_INVALID", `n must be a non-negative integer: ${n.slice(0, 20)}`);
    limit = Math.min(Number(n), maxLimit);
  }
  const last = query.get("last");
  return last === null || last === "" ? { limit } : { limit, last };
}
