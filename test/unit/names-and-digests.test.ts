import { parseRepositoryName, parseTag } from "../../src/kernel/names";
import { digestAlgorithm, digestHex, digestOf, parseDigest } from "../../src/kernel/digest";
import { DomainError } from "../../src/kernel/errors";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : "not a DomainError";
  }
  return undefined;
}

describe("repository names", () => {
  it.each(["a", "library/nginx", "team/app/api", "a.b_c__d-e--f/g", "0/1", "x".repeat(255)])("accepts %s", (name) => {
    expect(parseRepositoryName(name)).toBe(name);
  });

  it.each([
    "", "Upper", "a/", "/a", "a//b", "../etc", "a/../b", "a/./b", "%2e%2e", "a%2Fb", "-a", "a-", "a___b", "a..b", "a b", "a/b\u0000",
    "x".repeat(256),
  ])("refuses %j with NAME_INVALID", (name) => {
    expect(codeOf(() => parseRepositoryName(name))).toBe("NameInvalid");
  });
});

describe("tags", () => {
  it.each(["latest", "v1.0.0", "_x", "A-b.c_d", "a".repeat(128)])("accepts %s", (tag) => {
    expect(parseTag(tag)).toBe(tag);
  });
  it.each(["", ".hidden", "-dash", "a".repeat(129), "a/b", "a:b", "ä"])("refuses %j with TAG_INVALID", (tag) => {
    expect(codeOf(() => parseTag(tag))).toBe("TagInvalid");
  });
});

describe("digests", () => {
  const sha256 = digestOf(Buffer.from("x"));
  const sha512 = digestOf(Buffer.from("x"), "sha512");

  it("computes and splits sha256 and sha512 digests", () => {
    expect(sha256).toBe("sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    expect(parseDigest(sha256)).toBe(sha256);
    expect(parseDigest(sha512)).toBe(sha512);
    expect(digestAlgorithm(sha512)).toBe("sha512");
    expect(digestHex(sha256)).toHaveLength(64);
  });

  it.each([
    "sha256", "sha256:", "sha256:abc", `sha256:${"A".repeat(64)}`, `sha256:${"g".repeat(64)}`, `sha512:${"a".repeat(64)}`,
    `md5:${"a".repeat(32)}`, `sha256:${"a".repeat(64)}/x`, `:${"a".repeat(64)}`,
  ])("refuses %j with DIGEST_INVALID", (value) => {
    expect(codeOf(() => parseDigest(value))).toBe("DigestInvalid");
  });
});
