// Berth with its blobs on S3 (s3rver on 127.0.0.1, started by the test), through the OCI API: pushes of
// every shape (monolithic, chunked with chunks far below S3's 5 MiB part minimum, a ~40 MiB chunked blob,
// streamed), pulls with Range, mounts, manifests, resuming after a restart, redirect mode, and what
// clients see when the object store goes away mid-upload and mid-download.
import {
  bodyBytes,
  buildImage,
  digestResponse,
  expectOciError,
  finishUpload,
  getManifest,
  locationOf,
  MediaTypes,
  patchChunk,
  patchStream,
  pushBlob,
  pushBlobChunked,
  pushImage,
  putBlob,
  randomBytes,
  sha256,
  startUpload,
  streamOf,
  uniqueSuffix,
} from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { startS3Server, type S3TestServer } from "../support/s3-server";

const MiB = 1024 * 1024;

async function storedKeys(registry: TestRegistry, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const key of registry.deps.storage.list(prefix)) out.push(key);
  return out;
}

async function expectBlob(base: string, repo: string, data: Buffer): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${sha256(data)}`);
  expect(res.status).toBe(200);
  expect(Number(res.headers.get("content-length"))).toBe(data.length);
  expect(await digestResponse(res)).toEqual({ digest: sha256(data), size: data.length });
}

describe("Berth on S3", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ database: "postgres", storage: "s3" });
  }, 120_000);
  afterAll(() => registry?.stop());
  const repo = () => `s3/app-${uniqueSuffix()}`;

  it("uses the S3 driver", () => {
    expect(registry.deps.storage.name).toBe("s3");
  });

  it("pushes monolithically and pulls whole, by Range and by HEAD", async () => {
    const r = repo();
    const data = randomBytes(3 * MiB + 123);
    const digest = await putBlob(registry.url, r, data);
    await expectBlob(registry.url, r, data);
    const head = await fetch(`${registry.url}/v2/${r}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(data.length));
    const ranged = await fetch(`${registry.url}/v2/${r}/blobs/${digest}`, { headers: { Range: "bytes=1000-1999" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 1000-1999/${data.length}`);
    expect((await bodyBytes(ranged)).equals(data.subarray(1000, 2000))).toBe(true);
    const first = await fetch(`${registry.url}/v2/${r}/blobs/${digest}`, { headers: { Range: "bytes=0-0" } });
    expect((await bodyBytes(first)).equals(data.subarray(0, 1))).toBe(true);
  });

  it("pushes in chunks far below 5 MiB, the last one in the PUT", async () => {
    const r = repo();
    for (const [size, chunkSize] of [
      [10_000, 999],
      [6 * MiB + 7, 1 * MiB],
      [1, 1],
    ]) {
      const data = randomBytes(size);
      const { response } = await pushBlobChunked(registry.url, r, data, { chunkSize, lastChunkInPut: size > 1 });
      expect(response.status).toBe(201);
      await expectBlob(registry.url, r, data);
    }
    expect(await storedKeys(registry, "uploads")).toEqual([]);
  });

  it("pushes a ~40 MiB blob in chunks of mixed sizes and reads every range back", async () => {
    const r = repo();
    const data = randomBytes(40 * MiB + 4321);
    let { location } = await startUpload(registry.url, r);
    const sizes = [3 * MiB, 9 * MiB, 100, 5 * MiB, 1 * MiB, 12 * MiB];
    let offset = 0;
    for (let i = 0; offset < data.length; i++) {
      const chunk = data.subarray(offset, offset + sizes[i % sizes.length]);
      const res = await patchChunk(location, chunk, offset);
      expect(res.status).toBe(202);
      offset += chunk.length;
      location = locationOf(registry.url, res);
    }
    expect((await finishUpload(location, sha256(data))).status).toBe(201);
    await expectBlob(registry.url, r, data);
    const url = `${registry.url}/v2/${r}/blobs/${sha256(data)}`;
    for (const start of [0, 5 * MiB - 1, 17 * MiB + 5, data.length - 10]) {
      const res = await fetch(url, { headers: { Range: `bytes=${start}-${start + 99}` } });
      expect((await bodyBytes(res)).equals(data.subarray(start, start + 100))).toBe(true);
    }
  });

  it("takes a streamed PATCH of unknown length", async () => {
    const r = repo();
    const data = randomBytes(20 * MiB + 1);
    const { location } = await startUpload(registry.url, r);
    const pieces: Buffer[] = [];
    for (let at = 0; at < data.length; at += 256 * 1024) pieces.push(data.subarray(at, at + 256 * 1024));
    const res = await patchStream(location, streamOf(pieces));
    expect(res.status).toBe(202);
    expect(res.headers.get("range")).toBe(`0-${data.length - 1}`);
    expect((await finishUpload(locationOf(registry.url, res), sha256(data))).status).toBe(201);
    await expectBlob(registry.url, r, data);
  });

  it("continues a chunked upload after a restart (re-hashing the S3 segments)", async () => {
    const r = repo();
    const data = randomBytes(7 * MiB);
    let { location } = await startUpload(registry.url, r);
    const res = await patchChunk(location, data.subarray(0, 2 * MiB), 0);
    expect(res.status).toBe(202);
    location = locationOf(registry.url, res);
    await registry.restart();
    const moved = new URL(location.pathname + location.search, registry.url);
    const res2 = await patchChunk(moved, data.subarray(2 * MiB, 6 * MiB), 2 * MiB);
    expect(res2.status).toBe(202);
    await registry.restart();
    const last = new URL(locationOf(registry.url, res2).pathname, registry.url);
    expect((await finishUpload(last, sha256(data), data.subarray(6 * MiB))).status).toBe(201);
    await expectBlob(registry.url, r, data);
  });

  it("refuses a wrong digest and keeps nothing of it", async () => {
    const r = repo();
    const data = randomBytes(6 * MiB);
    const wrong = sha256(Buffer.from("something else"));
    await expectOciError((await pushBlob(registry.url, r, data, { digest: wrong })).response, 400, "DIGEST_INVALID");
    const { response } = await pushBlobChunked(registry.url, r, data, { chunkSize: 2 * MiB, digest: wrong });
    await expectOciError(response, 400, "DIGEST_INVALID");
    expect((await storedKeys(registry, "blobs")).filter((k) => k.endsWith(wrong.slice(7)))).toEqual([]);
    expect((await fetch(`${registry.url}/v2/${r}/blobs/${sha256(data)}`, { method: "HEAD" })).status).toBe(404);
    expect(await storedKeys(registry, "uploads")).toEqual([]);
  });

  it("cancels an upload and removes its segments", async () => {
    const r = repo();
    const { location } = await startUpload(registry.url, r);
    expect((await patchChunk(location, randomBytes(1000), 0)).status).toBe(202);
    expect((await storedKeys(registry, "uploads")).length).toBeGreaterThan(0);
    expect((await fetch(location, { method: "DELETE" })).status).toBe(204);
    expect(await storedKeys(registry, "uploads")).toEqual([]);
  });

  it("mounts across repositories and serves manifests of S3-backed images", async () => {
    const from = repo();
    const to = repo();
    const image = buildImage({ layers: 2, layerSize: 2 * MiB });
    expect((await pushImage(registry.url, from, image, "v1")).status).toBe(201);
    const layer = image.layers[0];
    const mount = await fetch(`${registry.url}/v2/${to}/blobs/uploads/?mount=${layer.descriptor.digest}&from=${from}`, { method: "POST" });
    expect(mount.status).toBe(201);
    await expectBlob(registry.url, to, layer.data);
    const manifest = await getManifest(registry.url, from, "v1", MediaTypes.OCI_MANIFEST);
    expect(manifest.status).toBe(200);
    expect((await bodyBytes(manifest)).equals(image.bytes)).toBe(true);
  });
});

describe("Berth on S3 in redirect mode", () => {
  let registry: TestRegistry;
  let s3: S3TestServer;
  beforeAll(async () => {
    s3 = await startS3Server();
    registry = await startTestRegistry({ database: "postgres", storage: "s3", s3, config: { storage: s3.storageConfig({ redirect: true }) } });
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
    await s3?.close();
  });

  it("answers blob GETs with 307 to a presigned URL and HEAD itself", async () => {
    const r = `s3/redirect-${uniqueSuffix()}`;
    const data = randomBytes(MiB);
    const digest = await putBlob(registry.url, r, data);
    const res = await fetch(`${registry.url}/v2/${r}/blobs/${digest}`, { redirect: "manual" });
    expect(res.status).toBe(307);
    const location = res.headers.get("location")!;
    expect(location).toContain(registry.s3!.endpoint);
    expect(location).toMatch(/X-Amz-Signature=/);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    const followed = await fetch(`${registry.url}/v2/${r}/blobs/${digest}`);
    expect((await bodyBytes(followed)).equals(data)).toBe(true);
    const head = await fetch(`${registry.url}/v2/${r}/blobs/${digest}`, { method: "HEAD", redirect: "manual" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(MiB));
    // Readability is still checked before any redirect.
    expect((await fetch(`${registry.url}/v2/other/repo/blobs/${digest}`, { redirect: "manual" })).status).toBe(404);
  });
});

describe("Berth on S3 when the object store goes away", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ database: "postgres", storage: "s3" });
  }, 120_000);
  afterAll(async () => {
    if (registry?.s3 && !registry.s3.running) await registry.s3.start();
    await registry?.stop();
  });

  it("fails a PATCH with 503 UNAVAILABLE, keeps the offset, and continues once S3 is back", async () => {
    const r = `s3/fault-${uniqueSuffix()}`;
    const data = randomBytes(9 * MiB);
    const { location } = await startUpload(registry.url, r);
    const first = await patchChunk(location, data.subarray(0, 3 * MiB), 0);
    expect(first.status).toBe(202);
    await registry.s3!.kill();
    const failed = await patchChunk(locationOf(registry.url, first), data.subarray(3 * MiB, 6 * MiB), 3 * MiB);
    await expectOciError(failed, 503, "UNAVAILABLE");
    const status = await fetch(locationOf(registry.url, first));
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe(`0-${3 * MiB - 1}`);
    // Finishing while S3 is down fails cleanly too, and publishes nothing.
    await expectOciError(await finishUpload(locationOf(registry.url, first), sha256(data), data.subarray(3 * MiB)), 503, "UNAVAILABLE");
    // A monolithic push as well.
    const other = randomBytes(1000);
    await expectOciError((await pushBlob(registry.url, r, other)).response, 503, "UNAVAILABLE");
    await registry.s3!.start();
    expect((await fetch(`${registry.url}/v2/${r}/blobs/${sha256(other)}`, { method: "HEAD" })).status).toBe(404);
    expect((await fetch(`${registry.url}/v2/${r}/blobs/${sha256(data)}`, { method: "HEAD" })).status).toBe(404);
    const again = await patchChunk(locationOf(registry.url, first), data.subarray(3 * MiB, 6 * MiB), 3 * MiB);
    expect(again.status).toBe(202);
    expect((await finishUpload(locationOf(registry.url, again), sha256(data), data.subarray(6 * MiB))).status).toBe(201);
    await expectBlob(registry.url, r, data);
  });

  it("cuts a download off mid-stream (never a short 200) and answers 503 while S3 is down", async () => {
    const r = `s3/fault-${uniqueSuffix()}`;
    const data = randomBytes(40 * MiB);
    const digest = await putBlob(registry.url, r, data);
    const res = await fetch(`${registry.url}/v2/${r}/blobs/${digest}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let received = 0;
    const outcome = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return "complete";
        received += value.byteLength;
        if (received > 2 * MiB && registry.s3!.running) await registry.s3!.kill();
      }
    })();
    await expect(outcome).rejects.toThrow();
    expect(received).toBeLessThan(data.length);
    await expectOciError(await fetch(`${registry.url}/v2/${r}/blobs/${digest}`), 503, "UNAVAILABLE");
    // HEAD needs only the database.
    expect((await fetch(`${registry.url}/v2/${r}/blobs/${digest}`, { method: "HEAD" })).status).toBe(200);
    await registry.s3!.start();
    await expectBlob(registry.url, r, data);
  });
});
