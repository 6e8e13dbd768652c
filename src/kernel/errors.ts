/**
 * The one error type for registry errors. Every failure a client can see goes through here, so the
 * OCI code, HTTP status and message always agree (see ERROR_TABLE, kept complete by a unit test).
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

export interface OciErrorOptions {
  /** Overrides the table's status where the spec asks for another one (e.g. 413 for a huge manifest). */
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
