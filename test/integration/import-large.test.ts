// A real-sized import: a `docker save` archive of more than 100 MiB, built on disk and streamed from it (never
// whole in memory), goes through as a raw body and as a multipart form, and each layer pulled back by digest
// has exactly the bytes that were saved.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, openAsBlob } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { MediaTypes, uniqueSuffix } from "../support/oci-client";

const MiB = 1024 * 1024;
const LAYERS = 2;
const LAYER_BYTES = 55 * MiB;

let registry: TestRegistry;
let dir: string;
let archive: string;
let layerDigests: string[];

beforeAll(async () => {
  registry = await startTestRegistry();
  dir = await mkdtemp(path.join(os.tmpdir(), "berth-large-import-"));
  archive = path.join(dir, "image.tar");
  layerDigests = await writeDockerSave(archive);
});
afterAll(async () => {
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes a `docker save` archive of LAYERS random layers to `file`, a MiB at a time; returns the layers' digests. */
async function writeDockerSave(file: string): Promise<string[]> {
  const tar = tarPack();
  const written = pipeline(tar, createWriteStream(file));
  const digests: string[] = [];
  const layerNames: string[] = [];
  for (let i = 0; i < LAYERS; i++) {
    const name = `layer${i}/layer.tar`;
    // tar-stream's entries are streamx writables, typed as node's by @types/tar-stream in one overload only.
    const entry = tar.entry({ name, size: LAYER_BYTES }) as unknown as Writable;
    const hash = createHash("sha256");
    for (let left = LAYER_BYTES; left > 0; left -= MiB) {
      const chunk = randomBytes(Math.min(MiB, left));
      hash.update(chunk);
      if (!entry.write(chunk)) await new Promise<void>((r) => entry.once("drain", () => r()));
    }
    await new Promise<void>((resolve, reject) => entry.once("finish", () => resolve()).once("error", reject).end());
    digests.push(`sha256:${hash.digest("hex")}`);
    layerNames.push(name);
  }
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: digests } }));
  const configName = `${createHash("sha256").update(config).digest("hex")}.json`;
  tar.entry({ name: configName }, config);
  tar.entry({ name: "manifest.json" }, Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ["big/image:saved"], Layers: layerNames }])));
  tar.finalize();
  await written;
  return digests;
}

/** Streams a blob from the registry, hashing it as it comes. */
async function pulledDigest(repo: string, digest: string): Promise<{ digest: string; size: number }> {
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(200);
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

async function expectImageRoundTrips(repo: string, tag: string): Promise<void> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: MediaTypes.OCI_MANIFEST } });
  expect(res.status).toBe(200);
  const manifest = (await res.json()) as { layers: Array<{ digest: string; size: number }> };
  expect(manifest.layers.map((l) => l.digest)).toEqual(layerDigests);
  for (const layer of manifest.layers) {
    expect(await pulledDigest(repo, layer.digest)).toEqual({ digest: layer.digest, size: LAYER_BYTES });
  }
}

describe("an import over 100 MiB", () => {
  test("the archive is a real docker save of more than 100 MiB", async () => {
    expect((await stat(archive)).size).toBeGreaterThan(100 * MiB);
  });

  test("as a raw body, streamed from disk", async () => {
    const repo = `big/raw-${uniqueSuffix()}`;
    const res = await fetch(`${registry.url}/api/v1/repositories/${repo}/-/import?tag=raw`, {
      method: "POST",
      headers: { "Content-Type": "application/x-tar" },
      body: createReadStream(archive) as unknown as RequestInit["body"],
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ format: "docker-save", images: [{ tag: "raw" }] });
    await expectImageRoundTrips(repo, "raw");
  });

  test("as a multipart form, its file a disk-backed Blob", async () => {
    const repo = `big/form-${uniqueSuffix()}`;
    const form = new FormData();
    form.append("file", await openAsBlob(archive), "image.tar");
    const res = await fetch(`${registry.url}/api/v1/repositories/${repo}/-/import`, { method: "POST", body: form });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ format: "docker-save", images: [{ tag: "saved" }] });
    await expectImageRoundTrips(repo, "saved");
  });
});
