import { ERROR_TABLE, OciError } from "../../src/kernel/errors";
import { toOciError } from "../../src/oci/errors";

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
