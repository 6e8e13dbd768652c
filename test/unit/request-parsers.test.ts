import { parseByteRange, parseContentRange, parseManifestDeletion, parseManifestLookup, parseManifestReference, parsePage } from "../../src/oci/request-parsers";
import { acceptsMediaType } from "../../src/oci/accept";
import { DomainError } from "../../src/kernel/errors";
import { OciError, toOciError } from "../../src/http/errors";
/** What a parser's refusal looks like on the wire (names and digests throw domain errors, mapped at the edge). */
function thrown(fn: () => unknown): OciError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OciError || err instanceof DomainError) return toOciError(err);
    throw err;
  }
  throw new Error("did not throw");
}

describe("Content-Range for PATCH", () => {
  it.each([
    ["0-99", { start: 0, end: 99 }],
    ["bytes=100-199", { start: 100, end: 199 }],
    ["bytes 5-9/*", { start: 5, end: 9 }],
    ["5-9/100", { start: 5, end: 9 }],
  ])("parses %s", (header, range) => {
    expect(parseContentRange(header)).toEqual(range);
  });
  it("is optional (a streamed PATCH)", () => expect(parseContentRange(undefined)).toBeNull());
  it.each(["", "abc", "10-5", "-5", "1-", "0-1,2-3"])("refuses %j with 416", (header) => {
    const err = thrown(() => parseContentRange(header));
    expect(err.code).toBe("RANGE_INVALID");
    expect(err.status).toBe(416);
  });
});

describe("Range for blob GET", () => {
  it("serves the whole blob without a header or with several ranges", () => {
    expect(parseByteRange(undefined, 10)).toBeNull();
    expect(parseByteRange("bytes=0-1,3-4", 10)).toBeNull();
  });
  it.each([
    ["bytes=0-4", { start: 0, end: 4 }],
    ["bytes=5-", { start: 5, end: 9 }],
    ["bytes=-3", { start: 7, end: 9 }],
    ["bytes=-30", { start: 0, end: 9 }],
    ["bytes=8-100", { start: 8, end: 9 }],
  ])("parses %s of 10 bytes", (header, range) => {
    expect(parseByteRange(header, 10)).toEqual(range);
  });
  it.each(["bytes=10-", "bytes=5-2", "bytes=-0", "bytes=-", "items=0-1", "bytes=a-b"])("answers %s with 416 and the size", (header) => {
    const err = thrown(() => parseByteRange(header, 10));
    expect(err.status).toBe(416);
    expect(err.headers["Content-Range"]).toBe("bytes */10");
  });
});

describe("pagination", () => {
  it("uses defaults, caps n and keeps last", () => {
    expect(parsePage(new URLSearchParams(""), 100, 1000)).toEqual({ limit: 100 });
    expect(parsePage(new URLSearchParams("n=5&last=b"), 100, 1000)).toEqual({ limit: 5, last: "b" });
    expect(parsePage(new URLSearchParams("n=50000"), 100, 1000)).toEqual({ limit: 1000 });
    expect(parsePage(new URLSearchParams("n=0"), 100, 1000)).toEqual({ limit: 0 });
  });
  it.each(["n=-1", "n=abc", "n=1.5", "n="])("refuses %s", (q) => {
    expect(thrown(() => parsePage(new URLSearchParams(q), 100, 1000)).code).toBe("PAGINATION_NUMBER_INVALID");
  });
});

describe("manifest references", () => {
  it("tells tags from digests", () => {
    expect(parseManifestReference("latest")).toEqual({ tag: "latest" });
    const digest = `sha256:${"a".repeat(64)}`;
    expect(parseManifestReference(digest)).toEqual({ digest });
    expect(thrown(() => parseManifestReference("sha256:zz")).code).toBe("DIGEST_INVALID");
    expect(thrown(() => parseManifestReference(".bad")).code).toBe("TAG_INVALID");
  });

  it("a lookup by what is neither a tag nor a digest is unknown; a deletion refuses only malformed digests", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    expect(parseManifestLookup("latest")).toEqual({ tag: "latest" });
    expect(parseManifestLookup(digest)).toEqual({ digest });
    expect(parseManifestDeletion(digest)).toEqual({ digest });
    for (const bad of [".bad", "t".repeat(129), "sha256:zz", `md5:${"a".repeat(32)}`]) {
      expect(thrown(() => parseManifestLookup(bad)).status).toBe(404);
      expect(thrown(() => parseManifestLookup(bad)).code).toBe("MANIFEST_UNKNOWN");
    }
    expect(thrown(() => parseManifestDeletion(".bad")).code).toBe("MANIFEST_UNKNOWN");
    expect(thrown(() => parseManifestDeletion("sha256:zz")).code).toBe("DIGEST_INVALID");
  });
});

describe("Accept negotiation", () => {
  const oci = "application/vnd.oci.image.manifest.v1+json";
  const docker = "application/vnd.docker.distribution.manifest.v2+json";
  it("serves OCI types only to clients that accept them", () => {
    expect(acceptsMediaType(undefined, oci)).toBe(true);
    expect(acceptsMediaType(`${docker}, ${oci}; q=0.5`, oci)).toBe(true);
    expect(acceptsMediaType("*/*", oci)).toBe(true);
    expect(acceptsMediaType(docker, oci)).toBe(false);
  });
  it("serves Docker schema 2 whatever the client asks, like the CNCF registry", () => {
    expect(acceptsMediaType(oci, docker)).toBe(true);
  });
});
