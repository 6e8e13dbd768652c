/**
 * Domain errors: what went wrong, in the registry's own terms. Stores and services throw these and know no
 * HTTP; the edge (src/http/errors.ts) maps every code to an OCI error code, an HTTP status and headers, in
 * one table a unit test keeps complete.
 */

export const DOMAIN_ERROR_CODES = [
  "NameInvalid",
  "NameUnknown",
  "TagInvalid",
  /** A policy (an immutability rule) refuses to move or delete the tag; the manifest itself is fine. */
  "TagImmutable",
  /** A manifest an index in the same repository lists as a child: it goes after the index. */
  "ManifestReferenced",
  "DigestInvalid",
  "BlobUnknown",
  "BlobUploadUnknown",
  "BlobUploadInvalid",
  "ManifestUnknown",
  "ManifestInvalid",
  "ManifestBlobUnknown",
  /** A chunk does not continue the upload where it stands (see the `upload` hint). */
  "RangeInvalid",
  /** A length did not match the content. */
  "SizeInvalid",
  /** More bytes than a limit allows. */
  "TooLarge",
  /** Storage or count quotas (none enforced yet). */
  "QuotaExceeded",
  /** Input that breaks a rule of the domain (an account name, a rule, a form). */
  "InvalidRequest",
  /** A user, robot, project or rule that does not exist. */
  "NotFound",
  "Unauthorized",
  "Denied",
  "Conflict",
  "TooManyRequests",
  /** A dependency (an upstream registry, storage) failed; retrying later may work. */
  "Unavailable",
] as const;

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

export interface DomainErrorOptions {
  cause?: unknown;
  /** One sentence for people, where clients show only the message (docker prints "denied: <summary>"). */
  summary?: string;
  /** When a retry may succeed (a login throttle, an overloaded dependency). */
  retryAfterSeconds?: number;
  /** How to authenticate: the scheme and its parameters, in the order the client should see them. */
  challenge?: { scheme: "Basic" | "Bearer"; params: Record<string, string> };
  /** Where the upload a chunk was refused for stands, so the client can resume from there. */
  upload?: { id: string; repository: string; offset: number };
}

export class DomainError extends Error {
  readonly summary?: string;
  readonly retryAfterSeconds?: number;
  readonly challenge?: DomainErrorOptions["challenge"];
  readonly upload?: DomainErrorOptions["upload"];

  constructor(
    readonly code: DomainErrorCode,
    readonly detail?: unknown,
    options: DomainErrorOptions = {},
  ) {
    super(options.summary ?? (typeof detail === "string" ? `${code}: ${detail}` : code), { cause: options.cause });
    this.name = "DomainError";
    this.summary = options.summary;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.challenge = options.challenge;
    this.upload = options.upload;
  }
}
