import { DomainError, type DomainErrorCode } from "../kernel/errors";
import { StorageUnavailableError } from "../storage/driver";

/**
 * The OCI error format, the one rendered form of every failure a client sees (the JSON API shares it), so
 * the OCI code, HTTP status and message always agree. Domain errors from below are mapped here, at the edge,
 * by DOMAIN_ERRORS; HTTP code throws OciError directly only for what is HTTP's own (routing, body limits,
 * headers).
 */

export const ERROR_TABLE = {
  BLOB_UNKNOWN: { status: 404, message: "blob unknown to registry" },
  BLOB_UPLOAD_INVALID: { status: 400, message: "blob upload invalid" },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: "blob upload unknown to registry" },
  DIGEST_INVALID: { status: 400, message: "provided digest did not match uploaded content" },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: "manifest references a manifest or blob unknown to registry" },
  MANIFEST_INVALID: { status: 400, message: "manifest invalid" },
  MANIFEST_UNKNOWN: { status: 404, message: "manifest unknown to registry" },
  NAME_INVALID: { status: 400, message: "invalid repository name" },
  NAME_UNKNOWN: { status: 404, message: "repository name not known to registry" },
  SIZE_INVALID: { status: 400, message: "provided length did not match content length" },
  TAG_INVALID: { status: 400, message: "manifest tag did not match URI" },
  RANGE_INVALID: { status: 416, message: "invalid content range" },
  PAGINATION_NUMBER_INVALID: { status: 400, message: "invalid number of results requested" },
  UNAUTHORIZED: { status: 401, message: "authentication required" },
  DENIED: { status: 403, message: "requested access to the resource is denied" },
  UNSUPPORTED: { status: 405, message: "the operation is unsupported" },
  NOT_FOUND: { status: 404, message: "not found" },
  INVALID_REQUEST: { status: 400, message: "invalid request" },
  CONFLICT: { status: 409, message: "conflict" },
  TOOMANYREQUESTS: { status: 429, message: "too many requests" },
  UNAVAILABLE: { status: 503, message: "service unavailable" },
  UNKNOWN: { status: 500, message: "unknown error" },
} as const satisfies Record<string, { status: number; message: string }>;

export type OciErrorCode = keyof typeof ERROR_TABLE;

/** Each domain error as clients see it: its OCI code, and a status where the table's is not the one. */
export const DOMAIN_ERRORS = {
  NameInvalid: { code: "NAME_INVALID" },
  NameUnknown: { code: "NAME_UNKNOWN" },
  TagInvalid: { code: "TAG_INVALID" },
  // DENIED (403), not MANIFEST_INVALID (400): the manifest is fine, a policy refuses the operation on the
  // tag. Clients treat 403 as final (no retry) and show its message, so the message says what happened;
  // MANIFEST_INVALID would send users looking for a problem in their image.
  TagImmutable: { code: "DENIED" },
  // DENIED, the spec's code for an operation refused by policy (it has no "referenced" code, and clients
  // print unknown codes poorly), but 409: the caller's rights are fine, the repository's state is not.
  ManifestReferenced: { code: "DENIED", status: 409 },
  DigestInvalid: { code: "DIGEST_INVALID" },
  BlobUnknown: { code: "BLOB_UNKNOWN" },
  BlobUploadUnknown: { code: "BLOB_UPLOAD_UNKNOWN" },
  BlobUploadInvalid: { code: "BLOB_UPLOAD_INVALID" },
  ManifestUnknown: { code: "MANIFEST_UNKNOWN" },
  ManifestInvalid: { code: "MANIFEST_INVALID" },
  ManifestBlobUnknown: { code: "MANIFEST_BLOB_UNKNOWN" },
  RangeInvalid: { code: "RANGE_INVALID" },
  SizeInvalid: { code: "SIZE_INVALID" },
  // The distribution spec answers an oversized manifest or body with 413 and SIZE_INVALID.
  TooLarge: { code: "SIZE_INVALID", status: 413 },
  QuotaExceeded: { code: "DENIED" },
  InvalidRequest: { code: "INVALID_REQUEST" },
  NotFound: { code: "NOT_FOUND" },
  Unauthorized: { code: "UNAUTHORIZED" },
  Denied: { code: "DENIED" },
  Conflict: { code: "CONFLICT" },
  TooManyRequests: { code: "TOOMANYREQUESTS" },
  Unavailable: { code: "UNAVAILABLE" },
} as const satisfies Record<DomainErrorCode, { code: OciErrorCode; status?: number }>;

export interface OciErrorOptions {
  /** Overrides the table's status where the spec asks for another one (e.g. 413 for a huge body). */
  status?: number;
  /** Replaces the table's generic message where clients show only the message (e.g. docker's "denied: …"). */
  message?: string;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class OciError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  private readonly clientMessage: string;

  constructor(
    readonly code: OciErrorCode,
    readonly detail?: unknown,
    options: OciErrorOptions = {},
  ) {
    super(typeof detail === "string" ? `${code}: ${detail}` : ERROR_TABLE[code].message, { cause: options.cause });
    this.name = "OciError";
    this.status = options.status ?? ERROR_TABLE[code].status;
    this.headers = options.headers ?? {};
    this.clientMessage = options.message ?? ERROR_TABLE[code].message;
  }

  toBody(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.clientMessage };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

/** Headers that tell a client where an upload stands, for 202 answers and for 416 refusals alike. */
export function rangeHeaders(id: string, repository: string, offset: number): Record<string, string> {
  return {
    Location: `/v2/${repository}/blobs/uploads/${id}`,
    Range: `0-${Math.max(offset - 1, 0)}`,
    "Docker-Upload-UUID": id,
  };
}

/**
 * Any failure as clients see it. A domain error through DOMAIN_ERRORS, its hints turned into headers;
 * anything else is an internal failure: logged by the caller, never leaked. A storage backend that is down
 * or overloaded is 503 UNAVAILABLE, which clients retry.
 */
export function toOciError(err: unknown): OciError {
  if (err instanceof OciError) return err;
  if (err instanceof DomainError) {
    const mapped: { code: OciErrorCode; status?: number } = DOMAIN_ERRORS[err.code];
    const headers: Record<string, string> = {};
    if (err.challenge) {
      const params = Object.entries(err.challenge.params).map(([k, v]) => `${k}="${v}"`);
      headers["WWW-Authenticate"] = `${err.challenge.scheme} ${params.join(",")}`;
    }
    if (err.retryAfterSeconds !== undefined) headers["Retry-After"] = String(err.retryAfterSeconds);
    if (err.upload) Object.assign(headers, rangeHeaders(err.upload.id, err.upload.repository, err.upload.offset));
    return new OciError(mapped.code, err.detail, { status: mapped.status, message: err.summary, headers, cause: err.cause });
  }
  if (err instanceof StorageUnavailableError) {
    return new OciError("UNAVAILABLE", "the storage backend is unavailable; retry later", { cause: err, headers: { "Retry-After": "5" } });
  }
  return new OciError("UNKNOWN", undefined, { cause: err });
}
