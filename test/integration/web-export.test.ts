// Export of images as archives through the web API: one platform of an index as a docker archive or a bare
// OCI layout, all platforms as an OCI layout of the index byte for byte, each archive parsed and checked
// blob by blob against its digest; bad query parameters (400 naming the field), a platform the index lacks
// (404 naming those it has), and HEAD answering from metadata alone (no storage read, no pull counted).
import { createHash } from "node:crypto";
import { blobPath } from "../../src/registry/paths";
import type { Digest } from "../../src/kernel/digest";
import { buildImage, buildIndex, expectOciError, MediaTypes, type BuiltImage, type BuiltManifest } from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { seedImage, seedManifest, untar } from "../support/web-client";

jest.setTimeout(60_000);

let registry: TestRegistry;
let amd: BuiltImage;
let arm: BuiltImage;
let index: BuiltManifest;

const platformConfig = (architecture: string, variant?: string) =>
  Buffer.from(JSON.stringify({ architecture, os: "linux", ...(variant ? { variant } : {}), rootfs: { type: "layers", diff_ids: [] }, config: {} }));

const exportUrl = (repo: string, ref: string, query = "") => `${registry.url}/api/v1/repositories/${repo}/-/export/${ref}${query}`;

beforeAll(async () => {
  registry = await startTestRegistry();
  amd = buildImage({ config: platformConfig("amd64"), layers: 2, layerSize: 700 });
  arm = buildImage({ config: platformConfig("arm64", "v8"), layers: 1, layerSize: 900 });
  await seedImage(registry.deps, "exp/app", amd);
  await seedImage(registry.deps, "exp/app", arm);
  index = buildIndex([amd, arm]);
  await seedManifest(registry.deps, "exp/app", index, "multi");
});

afterAll(async () => {
  await registry?.stop();
});

/** The archive's files, after checking that every blob is named by its own digest and the length was announced. */
async function fetchArchive(url: string): Promise<{ res: Response; files: Map<string, Buffer> }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const body = Buffer.from(await res.arrayBuffer());
  expect(Number(res.headers.get("content-length"))).toBe(body.length);
  const files = await untar(body);
  for (const [name, data] of files) {
    if (name.startsWith("blobs/")) expect(`sha256:${createHash("sha256").update(data).digest("hex")}`).toBe(`sha256:${name.slice("blobs/sha256/".length)}`);
  }
  expect(JSON.parse(files.get("oci-layout")!.toString())).toEqual({ imageLayoutVersion: "1.0.0" });
  return { res, files };
}

const blobName = (digest: string) => `blobs/sha256/${digest.slice(7)}`;
const imageBlobs = (img: BuiltImage) => [img.digest, img.config.descriptor.digest, ...img.layers.map((l) => l.descriptor.digest)].map(blobName);

test("all platforms: an OCI layout whose index.json names the index, byte-identical blobs, plus docker's manifest.json for linux/amd64", async () => {
  const { res, files } = await fetchArchive(exportUrl("exp/app", "multi", "?platform=all"));
  expect(res.headers.get("content-disposition")).toBe('attachment; filename="exp_app_multi_all.tar"');
  expect(res.headers.get("docker-content-digest")).toBe(index.digest);
  const indexJson = JSON.parse(files.get("index.json")!.toString());
  expect(indexJson.manifests).toEqual([
    {
      mediaType: MediaTypes.OCI_INDEX,
      digest: index.digest,
      size: index.bytes.length,
      annotations: { "io.containerd.image.name": `${registry.host}/exp/app:multi`, "org.opencontainers.image.ref.name": "multi" },
    },
  ]);
  // The index as pushed (its odd whitespace included), every child and every blob of both platforms.
  expect(files.get(blobName(index.digest))!.equals(index.bytes)).toBe(true);
  expect([...files.keys()].filter((n) => n.startsWith("blobs/")).sort()).toEqual([blobName(index.digest), ...imageBlobs(amd), ...imageBlobs(arm)].sort());
  expect(files.get(blobName(arm.layers[0].descriptor.digest))!.equals(arm.layers[0].data)).toBe(true);
  const [docker] = JSON.parse(files.get("manifest.json")!.toString());
  expect(docker).toEqual({ Config: blobName(amd.config.descriptor.digest), RepoTags: [`${registry.host}/exp/app:multi`], Layers: amd.layers.map((l) => blobName(l.descriptor.digest)) });
});

test("all platforms as format=oci: the bare layout, without manifest.json", async () => {
  const { res, files } = await fetchArchive(exportUrl("exp/app", "multi", "?platform=all&format=oci"));
  expect(res.headers.get("content-disposition")).toBe('attachment; filename="exp_app_multi_all.oci.tar"');
  expect(files.has("manifest.json")).toBe(false);
  expect(JSON.parse(files.get("index.json")!.toString()).manifests[0].digest).toBe(index.digest);
});

test("one platform: a docker archive by default, a bare OCI layout with format=oci; by digest no tag is named", async () => {
  const docker = await fetchArchive(exportUrl("exp/app", "multi", "?platform=linux/arm64/v8"));
  expect(docker.res.headers.get("content-disposition")).toBe('attachment; filename="exp_app_multi_linux-arm64-v8.tar"');
  expect([...docker.files.keys()].filter((n) => n.startsWith("blobs/")).sort()).toEqual(imageBlobs(arm).sort());
  expect(JSON.parse(docker.files.get("manifest.json")!.toString())[0].Config).toBe(blobName(arm.config.descriptor.digest));

  const oci = await fetchArchive(exportUrl("exp/app", index.digest, "?platform=linux/arm64/v8&format=oci"));
  expect(oci.res.headers.get("content-disposition")).toBe(`attachment; filename="exp_app_${index.digest.slice(7, 19)}_linux-arm64-v8.oci.tar"`);
  expect(oci.files.has("manifest.json")).toBe(false);
  expect(JSON.parse(oci.files.get("index.json")!.toString()).manifests).toEqual([{ mediaType: arm.mediaType, digest: arm.digest, size: arm.bytes.length }]);

  // No platform: linux/amd64, as docker would pull here.
  const fallback = await fetchArchive(exportUrl("exp/app", "multi"));
  expect(fallback.res.headers.get("docker-content-digest")).toBe(amd.digest);
});

test("bad query parameters are 400 naming the field; a platform the index lacks is 404 naming those it has", async () => {
  for (const query of ["?format=zip", "?format=OCI", "?platform=all&format=tar"]) {
    const res = await fetch(exportUrl("exp/app", "multi", query));
    expect((await expectOciError(res, 400, "INVALID_REQUEST")).errors[0]).toMatchObject({ detail: expect.stringMatching(/^format must be one of docker, oci/) });
  }
  for (const query of ["?platform=linux", "?platform=linux/amd64/v8/extra", "?platform=Linux/AMD64", "?platform=linux/amd%2064", "?platform=../../etc", `?platform=linux/${"a".repeat(300)}`]) {
    const res = await fetch(exportUrl("exp/app", "multi", query));
    expect((await expectOciError(res, 400, "INVALID_REQUEST")).errors[0]).toMatchObject({ detail: expect.stringMatching(/^platform must be os\/arch/) });
  }
  const missing = await fetch(exportUrl("exp/app", "multi", "?platform=linux/s390x"));
  expect((await expectOciError(missing, 404, "MANIFEST_UNKNOWN")).errors[0]).toMatchObject({ detail: "the index has no linux/s390x image; it has linux/amd64, linux/arm64/v8" });
  await expectOciError(await fetch(exportUrl("exp/app", "nope", "?platform=all")), 404, "MANIFEST_UNKNOWN");
});

test("an index whose child is not stored here cannot be exported whole, but its stored platforms can", async () => {
  const stored = buildImage({ config: platformConfig("amd64"), layers: 1, layerSize: 100 });
  const absent = buildImage({ config: platformConfig("arm64", "v8"), layers: 1, layerSize: 100 });
  await seedImage(registry.deps, "exp/partial", stored);
  await seedImage(registry.deps, "exp/partial", absent);
  await seedManifest(registry.deps, "exp/partial", buildIndex([stored, absent]), "p");
  // The API refuses to delete a child an index references; a partial index (as a mirror may hold) is made
  // behind its back.
  await registry.deps.database.query(`DELETE FROM manifest WHERE digest = $1 AND repository_id = (SELECT id FROM repository WHERE name = $2)`, [absent.digest, "exp/partial"]);
  const res = await fetch(exportUrl("exp/partial", "p", "?platform=all"));
  expect((await expectOciError(res, 404, "MANIFEST_UNKNOWN")).errors[0]).toMatchObject({ detail: `the index's linux/arm64/v8 manifest (${absent.digest}) is not stored here` });
  await fetchArchive(exportUrl("exp/partial", "p", "?platform=linux/amd64"));
});

test("HEAD answers the headers from metadata alone: no blob is read from storage and no pull is counted", async () => {
  const image = buildImage({ config: platformConfig("amd64"), layers: 1, layerSize: 2000 });
  await seedImage(registry.deps, "exp/head", image, "v1");
  const get = await fetch(exportUrl("exp/head", "v1", "?format=oci"));
  const length = (await get.arrayBuffer()).byteLength;
  await registry.deps.audit.flush();
  const pulls = async () => ((await (await fetch(`${registry.url}/api/v1/repositories/exp/head`)).json()) as { pullCount: number }).pullCount;
  expect(await pulls()).toBe(1);

  // The layer's bytes leave storage: a HEAD that streamed the archive would now fail, a GET does.
  await registry.deps.storage.delete(blobPath(image.layers[0].descriptor.digest as Digest));
  for (let i = 0; i < 3; i++) {
    const head = await fetch(exportUrl("exp/head", "v1", "?format=oci"), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(length));
    expect(head.headers.get("content-disposition")).toBe('attachment; filename="exp_head_v1.oci.tar"');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  }
  await registry.deps.audit.flush();
  expect(await pulls()).toBe(1);
  // HEAD checks what GET checks: bad parameters and unknown platforms are refused before any header.
  expect((await fetch(exportUrl("exp/head", "v1", "?format=zip"), { method: "HEAD" })).status).toBe(400);
  expect((await fetch(exportUrl("exp/app", "multi", "?platform=linux/s390x"), { method: "HEAD" })).status).toBe(404);
  await expect(fetch(exportUrl("exp/head", "v1")).then((r) => r.arrayBuffer())).rejects.toThrow();
});
