import { DOMAIN_ERROR_CODES, DomainError, type DomainErrorCode } from "../../src/kernel/errors";
import { DOMAIN_ERRORS, ERROR_TABLE, OciError, toOciError } from "../../src/http/errors";
import { StorageUnavailableError } from "../../src/storage/driver";

describe("OCI error table", () => {
  // The codes and statuses of the distribution spec (v1.1, "Error Codes"), plus the ones clients know from
  // the CNCF registry. A code missing from the table, or a wrong status, fails here.
  const expected: Record<string, number> = {
    BLOB_UNKNOWN: 404,
    BLOB_UPLOAD_INVALID: 400,
    BLOB_UPLOAD_UNKNOWN: 404,
    DIGEST_INVALID: 400,
    MANIFEST_BLOB_UNKNOWN: 400,
    MANIFEST_INVALID: 400,
    MANIFEST_UNKNOWN: 404,
    NAME_INVALID: 400,
    NAME_UNKNOWN: 404,
    SIZE_INVALID: 400,
    TAG_INVALID: 400,
    RANGE_INVALID: 416,
    PAGINATION_NUMBER_INVALID: 400,
    UNAUTHORIZED: 401,
    DENIED: 403,
    UNSUPPORTED: 405,
    TOOMANYREQUESTS: 429,
    UNAVAILABLE: 503,
    UNKNOWN: 500,
  };

  it.each(Object.entries(expected))("%s answers %i", (code, status) => {
    expect(ERROR_TABLE[code as keyof typeof ERROR_TABLE]).toBeDefined();
    expect(new OciError(code as keyof typeof ERROR_TABLE).status).toBe(status);
  });

  it("gives every entry an error status and a message", () => {
    for (const [code, entry] of Object.entries(ERROR_TABLE)) {
      expect(code).toMatch(/^[A-Z_]+$/);
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(entry.message.length).toBeGreaterThan(5);
    }
  });

  it("renders the spec's body with detail only when given", () => {
    expect(new OciError("BLOB_UNKNOWN").toBody()).toEqual({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }] });
    expect(new OciError("NAME_INVALID", { name: "X" }).toBody().errors[0].detail).toEqual({ name: "X" });
  });

  it("lets a call site override the status and add headers", () => {
    const err = new OciError("SIZE_INVALID", "too big", { status: 413, headers: { "X-A": "1" } });
    expect(err.status).toBe(413);
    expect(err.headers).toEqual({ "X-A": "1" });
  });

  it("turns unknown failures into UNKNOWN without leaking them", () => {
    const wrapped = toOciError(new Error("db password is hunter2"));
    expect(wrapped.code).toBe("UNKNOWN");
    expect(wrapped.status).toBe(500);
    expect(JSON.stringify(wrapped.toBody())).not.toContain("hunter2");
    const original = new OciError("DENIED");
    expect(toOciError(original)).toBe(original);
  });
});

describe("domain errors at the edge", () => {
  // How each domain error reaches clients. A new domain code fails to compile until DOMAIN_ERRORS maps it,
  // and fails here until this list says what clients should see.
  const expected: Record<DomainErrorCode, [string, number]> = {
    NameInvalid: ["NAME_INVALID", 400],
    NameUnknown: ["NAME_UNKNOWN", 404],
    TagInvalid: ["TAG_INVALID", 400],
    TagImmutable: ["DENIED", 403],
    ManifestReferenced: ["DENIED", 409],
    DigestInvalid: ["DIGEST_INVALID", 400],
    BlobUnknown: ["BLOB_UNKNOWN", 404],
    BlobUploadUnknown: ["BLOB_UPLOAD_UNKNOWN", 404],
    BlobUploadInvalid: ["BLOB_UPLOAD_INVALID", 400],
    ManifestUnknown: ["MANIFEST_UNKNOWN", 404],
    ManifestInvalid: ["MANIFEST_INVALID", 400],
    ManifestBlobUnknown: ["MANIFEST_BLOB_UNKNOWN", 400],
    RangeInvalid: ["RANGE_INVALID", 416],
    SizeInvalid: ["SIZE_INVALID", 400],
    TooLarge: ["SIZE_INVALID", 413],
    QuotaExceeded: ["DENIED", 403],
    InvalidRequest: ["INVALID_REQUEST", 400],
    NotFound: ["NOT_FOUND", 404],
    Unauthorized: ["UNAUTHORIZED", 401],
    Denied: ["DENIED", 403],
    Conflict: ["CONFLICT", 409],
    TooManyRequests: ["TOOMANYREQUESTS", 429],
    Unavailable: ["UNAVAILABLE", 503],
  };

  it("maps every domain code, and nothing else", () => {
    expect(Object.keys(DOMAIN_ERRORS).sort()).toEqual([...DOMAIN_ERROR_CODES].sort());
    expect(Object.keys(expected).sort()).toEqual([...DOMAIN_ERROR_CODES].sort());
  });

  it.each(Object.entries(expected))("renders %s as %j", (code, [oci, status]) => {
    const rendered = toOciError(new DomainError(code as DomainErrorCode, "why"));
    expect(rendered.code).toBe(oci);
    expect(rendered.status).toBe(status);
    expect(rendered.toBody().errors[0]).toEqual({ code: oci, message: ERROR_TABLE[rendered.code].message, detail: "why" });
  });

  it("turns the hints into headers and the summary into the message", () => {
    const unauthorized = toOciError(
      new DomainError("Unauthorized", "no", { challenge: { scheme: "Bearer", params: { realm: "https://r/token", service: "berth", scope: "repository:a:pull" } } }),
    );
    expect(unauthorized.headers).toEqual({ "WWW-Authenticate": 'Bearer realm="https://r/token",service="berth",scope="repository:a:pull"' });
    expect(toOciError(new DomainError("TooManyRequests", "slow down", { retryAfterSeconds: 7 })).headers).toEqual({ "Retry-After": "7" });
    expect(toOciError(new DomainError("RangeInvalid", "gap", { upload: { id: "u1", repository: "a/b", offset: 3 } })).headers).toEqual({
      Location: "/v2/a/b/blobs/uploads/u1",
      Range: "0-2",
      "Docker-Upload-UUID": "u1",
    });
    const immutable = toOciError(new DomainError("TagImmutable", { tag: "v1" }, { summary: "tag v1 is immutable" }));
    expect(immutable.toBody()).toEqual({ errors: [{ code: "DENIED", message: "tag v1 is immutable", detail: { tag: "v1" } }] });
  });

  it("keeps storage outages retryable and keeps a domain error's cause for the log", () => {
    const outage = toOciError(new StorageUnavailableError("s3 down"));
    expect([outage.code, outage.status, outage.headers]).toEqual(["UNAVAILABLE", 503, { "Retry-After": "5" }]);
    const upstream = new Error("connect ECONNREFUSED");
    expect(toOciError(new DomainError("Unavailable", "upstream failed", { cause: upstream })).cause).toBe(upstream);
  });
});
