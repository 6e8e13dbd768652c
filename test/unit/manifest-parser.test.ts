import { parseManifest } from "../../src/registry/manifest-parser";
import { DomainError } from "../../src/kernel/errors";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const OCI = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

const image = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: OCI,
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("c"), size: 10 },
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("1"), size: 20 }],
  ...extra,
});
const buf = (v: unknown) => Buffer.from(JSON.stringify(v));

function invalid(content: Buffer, type?: string): string {
  try {
    parseManifest(content, type);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe("ManifestInvalid");
    return String((err as DomainError).detail);
  }
  throw new Error("manifest was accepted");
}

describe("parseManifest", () => {
  test("refuses a manifest nested thousands of levels deep (MANIFEST_INVALID), before walking it", () => {
    const deep = Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI}","annotations":{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`);
    expect(invalid(deep, OCI)).toMatch(/nested deeper than 64 levels/);
  });

  it("extracts config and layers of an image manifest, and the config type as artifactType", () => {
    const parsed = parseManifest(buf(image()), OCI);
    expect(parsed.mediaType).toBe(OCI);
    expect(parsed.references).toEqual([
      { digest: d("c"), kind: "blob" },
      { digest: d("1"), kind: "blob" },
    ]);
    expect(parsed.artifactType).toBe("application/vnd.oci.image.config.v1+json");
    expect(parsed.subject).toBeNull();
  });

  it("reads subject, artifactType and annotations", () => {
    const parsed = parseManifest(
      buf(image({ artifactType: "application/vnd.example.sig", subject: { mediaType: OCI, digest: d("5"), size: 3 }, annotations: { a: "b" } })),
      OCI,
    );
    expect(parsed.subject).toBe(d("5"));
    expect(parsed.artifactType).toBe("application/vnd.example.sig");
    expect(parsed.annotations).toEqual({ a: "b" });
  });

  it("lists an index's children as manifests", () => {
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI, digest: d("a"), size: 5, platform: { os: "linux", architecture: "arm64" } }] };
    expect(parseManifest(buf(index), undefined).references).toEqual([{ digest: d("a"), kind: "manifest" }]);
    const list = { ...index, mediaType: DOCKER_LIST };
    expect(parseManifest(buf(list), DOCKER_LIST).mediaType).toBe(DOCKER_LIST);
  });

  it("takes the type from Content-Type, or infers it, when the body has no mediaType", () => {
    const { mediaType: _omit, ...bare } = image();
    expect(parseManifest(buf(bare), DOCKER).mediaType).toBe(DOCKER);
    expect(parseManifest(buf(bare), undefined).mediaType).toBe(OCI);
    expect(parseManifest(buf({ schemaVersion: 2, manifests: [] }), "application/json").mediaType).toBe(OCI_INDEX);
  });

  it("skips foreign layers that live at their URLs", () => {
    const foreign = image({
      mediaType: DOCKER,
      layers: [{ mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: d("f"), size: 1, urls: ["https://example.com/x"] }],
    });
    expect(parseManifest(buf(foreign), DOCKER).references).toEqual([{ digest: d("c"), kind: "blob" }]);
  });

  it("refuses Docker schema 1 with a clear message", () => {
    expect(invalid(buf({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [] }))).toMatch(/schema 1 is not supported/);
    expect(invalid(buf({}), "application/vnd.docker.distribution.manifest.v1+prettyjws")).toMatch(/schema 1/);
  });

  it.each([
    ["not JSON", Buffer.from("{nope")],
    ["an array", buf([1])],
    ["no schemaVersion", buf({ mediaType: OCI })],
    ["an unknown media type", buf({ schemaVersion: 2, mediaType: "application/vnd.example+json", config: {} })],
    ["a missing config", buf({ schemaVersion: 2, mediaType: OCI, layers: [] })],
    ["layers not an array", buf(image({ layers: {} }))],
    ["a bad layer digest", buf(image({ layers: [{ mediaType: "x", digest: "sha256:nope", size: 1 }] }))],
    ["a negative size", buf(image({ layers: [{ mediaType: "x", digest: d("1"), size: -1 }] }))],
    ["a fractional size", buf(image({ layers: [{ mediaType: "x", digest: d("1"), size: 1.5 }] }))],
    ["non-string annotations", buf(image({ annotations: { a: 1 } }))],
    ["an index without manifests", buf({ schemaVersion: 2, mediaType: OCI_INDEX })],
  ])("refuses %s with MANIFEST_INVALID", (_name, content) => {
    invalid(content);
  });

  it("refuses a body whose mediaType contradicts Content-Type", () => {
    expect(invalid(buf(image()), DOCKER)).toMatch(/does not match Content-Type/);
  });
});
