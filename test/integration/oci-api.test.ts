// The OCI Distribution API (v1.1) end to end over HTTP: base and routing, blob uploads and reads, manifests,
// referrers, listings, bad input and concurrency, against a real server on each database kind.
// One registry per database kind for the whole file; every test uses its own repositories, so the tests
// are independent of order (the "nothing was written" checks compare whole-registry snapshots, which is
// sound because jest runs the tests of one file one after the other).
import { createHash, randomUUID } from "node:crypto";
import { startTestRegistry, type DatabaseKind, type TestRegistry } from "../support/registry";
import {
  MediaTypes,
  bodyBytes,
  chunkedRequestThenReuse,
  buildImage,
  buildIndex,
  digestResponse,
  expectOciError,
  expectRawOciError,
  finishUpload,
  getManifest,
  locationOf,
  nextLink,
  patchChunk,
  patchStream,
  pushBlob,
  pushBlobChunked,
  pushImage,
  pushManifest,
  putBlob,
  randomBytes,
  rawRequest,
  sha256,
  sha512,
  startUpload,
  streamOf,
  uniqueSuffix,
  withDigest,
  type BuiltManifest,
  type Descriptor,
} from "../support/oci-client";
import { waitFor } from "../support/wait-for";

const MiB = 1024 * 1024;
const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** A fresh repository name for one test. */
function repoName(label: string): string {
  return `${label}-${uniqueSuffix()}`;
}

describe.each(["postgres", "embedded"] as const)("OCI distribution API on %s", (database: DatabaseKind) => {
  let registry: TestRegistry;
  /** Read at call time: the URL changes when the registry restarts. */
  const url = () => registry.url;

  beforeAll(async () => {
    registry = await startTestRegistry({ database });
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
  }, 60_000);

  /** Everything the registry has written: metadata row counts, storage files and the catalog. */
  async function snapshot(): Promise<unknown> {
    const [row] = await registry.deps.database.query<Record<string, unknown>>(
      `SELECT (SELECT count(*) FROM repository) AS repositories, (SELECT count(*) FROM blob) AS blobs,
              (SELECT count(*) FROM repository_blob) AS links, (SELECT count(*) FROM manifest) AS manifests,
              (SELECT count(*) FROM tag) AS tags, (SELECT count(*) FROM upload) AS uploads`,
    );
    const counts = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
    const files: string[] = [];
    for await (const file of registry.deps.storage.list("")) files.push(file);
    return { counts, files: files.sort(), catalog: await fullCatalog() };
  }

  async function fullCatalog(): Promise<string[]> {
    const names: string[] = [];
    for (let next: string | null = `${url()}/v2/_catalog?n=1000`; next; ) {
      const res = await fetch(next);
      expect(res.status).toBe(200);
      names.push(...((await res.json()) as { repositories: string[] }).repositories);
      next = nextLink(url(), res);
    }
    return names;
  }

  async function expectBlob(repo: string, digest: string, data: Buffer): Promise<void> {
    const res = await fetch(`${url()}/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    const body = await bodyBytes(res);
    expect(body.length).toBe(data.length);
    expect(body.equals(data)).toBe(true);
  }

  async function headBlob(repo: string, digest: string): Promise<Response> {
    return fetch(`${url()}/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
  }

  async function uploadStatus(location: URL): Promise<Response> {
    return fetch(new URL(location.pathname + location.search, url()));
  }

  // -------------------------------------------------------------------------------------------------------
  describe("base and routing", () => {
    it("GET /v2/ answers 200 with Docker-Distribution-API-Version", async () => {
      for (const method of ["GET", "HEAD"]) {
        const res = await fetch(`${url()}/v2/`, { method });
        expect(res.status).toBe(200);
        expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
      }
    });

    it("an unknown route is 404 with an OCI error body", async () => {
      for (const path of ["/v2/some/repo/unknown", "/v2/some/repo/blobs", "/api/v9/nothing", "/v2/some/repo/manifests/a/b"]) {
        await expectOciError(await fetch(`${url()}${path}`), 404, "NOT_FOUND");
      }
    });

    it("a wrong method on a known route is 405 UNSUPPORTED with Allow", async () => {
      const repo = repoName("routing");
      const cases: Array<[string, string]> = [
        ["POST", "/v2/_catalog"],
        ["PUT", "/v2/"],
        ["PATCH", `/v2/${repo}/manifests/latest`],
        ["DELETE", `/v2/${repo}/tags/list`],
        ["POST", `/v2/${repo}/manifests/latest`],
        ["PUT", `/v2/${repo}/blobs/${EMPTY_SHA256}`],
      ];
      for (const [method, path] of cases) {
        const res = await fetch(`${url()}${path}`, { method });
        expect(res.headers.get("allow")).toBeTruthy();
        await expectOciError(res, 405, "UNSUPPORTED");
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe("blob uploads", () => {
    it("monolithic POST ?digest= creates the blob (201, Location, Docker-Content-Digest)", async () => {
      const repo = repoName("mono");
      const data = randomBytes(10_000);
      const { digest, response } = await pushBlob(url(), repo, data);
      expect(response.status).toBe(201);
      expect(response.headers.get("docker-content-digest")).toBe(digest);
      expect(locationOf(url(), response).pathname).toBe(`/v2/${repo}/blobs/${digest}`);
      await expectBlob(repo, digest, data);
    });

    it("POST then PUT with the whole body", async () => {
      const repo = repoName("post-put");
      const data = randomBytes(20_000);
      const { location, response: started } = await startUpload(url(), repo);
      expect(started.headers.get("docker-upload-uuid")).toBeTruthy();
      expect(location.pathname).toContain(`/v2/${repo}/blobs/uploads/`);
      const res = await finishUpload(location, sha256(data), data);
      expect(res.status).toBe(201);
      expect(res.headers.get("docker-content-digest")).toBe(sha256(data));
      expect(locationOf(url(), res).pathname).toBe(`/v2/${repo}/blobs/${sha256(data)}`);
      await expectBlob(repo, sha256(data), data);
      // The session is closed.
      await expectOciError(await uploadStatus(location), 404, "BLOB_UPLOAD_UNKNOWN");
    });

    it("chunked PATCHes with Content-Range, then PUT without a body", async () => {
      const repo = repoName("chunked");
      const data = randomBytes(100_000);
      const { digest, response } = await pushBlobChunked(url(), repo, data, { chunkSize: 30_000 }); // 4 chunks
      expect(response.status).toBe(201);
      expect(response.headers.get("docker-content-digest")).toBe(digest);
      await expectBlob(repo, digest, data);
    });

    it("chunked PATCHes with Content-Range, then PUT carrying the last chunk", async () => {
      const repo = repoName("chunked-put");
      const data = randomBytes(100_000);
      const { digest, response } = await pushBlobChunked(url(), repo, data, { chunkSize: 25_000, lastChunkInPut: true }); // 3 PATCH + PUT
      expect(response.status).toBe(201);
      await expectBlob(repo, digest, data);
    });

    it("a streamed PATCH without Content-Range (chunked transfer encoding)", async () => {
      const repo = repoName("streamed");
      const pieces = [randomBytes(70_000), randomBytes(1), randomBytes(300_000), randomBytes(12_345)];
      const data = Buffer.concat(pieces);
      const { location } = await startUpload(url(), repo);
      const res = await patchStream(location, streamOf(pieces));
      expect(res.status).toBe(202);
      expect(res.headers.get("range")).toBe(`0-${data.length - 1}`);
      // A second streamed PATCH continues where the first stopped.
      const more = randomBytes(5_000);
      const res2 = await patchStream(locationOf(url(), res), streamOf([more]));
      expect(res2.status).toBe(202);
      expect(res2.headers.get("range")).toBe(`0-${data.length + more.length - 1}`);
      const all = Buffer.concat([data, more]);
      const done = await finishUpload(locationOf(url(), res2), sha256(all));
      expect(done.status).toBe(201);
      await expectBlob(repo, sha256(all), all);
    });

    it("GET on an upload answers 204 with Range, Location and Docker-Upload-UUID", async () => {
      const repo = repoName("status");
      const { location, response } = await startUpload(url(), repo);
      const uuid = response.headers.get("docker-upload-uuid");
      expect(uuid).toMatch(/^[0-9a-f-]{36}$/);

      let res = await uploadStatus(location);
      expect(res.status).toBe(204);
      expect(res.headers.get("range")).toBe("0-0");
      expect(res.headers.get("docker-upload-uuid")).toBe(uuid);
      expect(locationOf(url(), res).pathname).toBe(location.pathname);

      const chunk = randomBytes(4096);
      const patched = await patchChunk(location, chunk, 0);
      expect(patched.status).toBe(202);
      expect(patched.headers.get("range")).toBe("0-4095");
      expect(patched.headers.get("docker-upload-uuid")).toBe(uuid);
      expect(locationOf(url(), patched).pathname).toBe(location.pathname);

      res = await uploadStatus(location);
      expect(res.status).toBe(204);
      expect(res.headers.get("range")).toBe("0-4095");
      expect(res.headers.get("docker-upload-uuid")).toBe(uuid);
      expect(locationOf(url(), res).pathname).toBe(location.pathname);
      expect(await res.text()).toBe("");
    });

    it("an out-of-order chunk is refused with 416 RANGE_INVALID and the upload continues from the right offset", async () => {
      const repo = repoName("out-of-order");
      const data = randomBytes(3_000);
      const [c0, c1, c2] = [data.subarray(0, 1000), data.subarray(1000, 2000), data.subarray(2000)];
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, c0, 0)).status).toBe(202);

      // Skipping ahead, and repeating what was already received, are both out of order.
      await expectOciError(await patchChunk(location, c2, 2000), 416, "RANGE_INVALID");
      await expectOciError(await patchChunk(location, c0, 0), 416, "RANGE_INVALID");
      const status = await uploadStatus(location);
      expect(status.status).toBe(204);
      expect(status.headers.get("range")).toBe("0-999");

      const r1 = await patchChunk(location, c1, 1000);
      expect(r1.status).toBe(202);
      expect(r1.headers.get("range")).toBe("0-1999");
      const r2 = await patchChunk(locationOf(url(), r1), c2, 2000);
      expect(r2.status).toBe(202);
      expect(r2.headers.get("range")).toBe("0-2999");
      const done = await finishUpload(locationOf(url(), r2), sha256(data));
      expect(done.status).toBe(201);
      await expectBlob(repo, sha256(data), data);
    });

    it("a closing PUT whose Content-Range does not continue the upload is 416 RANGE_INVALID, and the upload goes on", async () => {
      const repo = repoName("put-out-of-order");
      const data = randomBytes(3_000);
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, data.subarray(0, 1000), 0)).status).toBe(202);
      const before = await snapshot();
      const closing = (chunk: Buffer, start: number) =>
        fetch(withDigest(location, sha256(data)), {
          method: "PUT",
          headers: { "Content-Type": "application/octet-stream", "Content-Range": `${start}-${start + chunk.length - 1}` },
          body: chunk,
        });
      // Skipping a chunk, and repeating one already received.
      for (const refused of [await closing(data.subarray(2000), 2000), await closing(data.subarray(0, 1000), 0)]) {
        await expectOciError(refused, 416, "RANGE_INVALID");
        expect(refused.headers.get("range")).toBe("0-999");
        expect(refused.headers.get("docker-upload-uuid")).toBe(location.pathname.split("/").pop());
      }
      expect(await snapshot()).toEqual(before);
      expect((await closing(data.subarray(1000), 1000)).status).toBe(201);
      await expectBlob(repo, sha256(data), data);
    });

    it("a chunk shorter than its Content-Range is refused and the upload stays at its previous offset", async () => {
      const repo = repoName("short-chunk");
      const data = randomBytes(3_000);
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, data.subarray(0, 1000), 0)).status).toBe(202);
      const short = await fetch(location, {
        method: "PATCH",
        headers: { "Content-Type": "application/octet-stream", "Content-Range": "1000-1999" },
        body: data.subarray(1000, 1500),
      });
      expect([400, 416]).toContain(short.status);
      await short.arrayBuffer();
      const status = await uploadStatus(location);
      expect(status.headers.get("range")).toBe("0-999");
      // The 500 bytes that did arrive must not linger in the upload.
      expect((await patchChunk(location, data.subarray(1000), 1000)).status).toBe(202);
      const done = await finishUpload(location, sha256(data));
      expect(done.status).toBe(201);
      await expectBlob(repo, sha256(data), data);
    });

    it("a PATCH cut off mid-stream leaves the upload at its previous offset, and it continues", async () => {
      const repo = repoName("aborted-patch");
      const first = randomBytes(10_000);
      const rest = randomBytes(20_000);
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, first, 0)).status).toBe(202);

      const controller = new AbortController();
      let pulls = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (++pulls <= 4) {
            c.enqueue(new Uint8Array(randomBytes(64 * 1024)));
            return;
          }
          // The server is streaming this body into the upload: cut it off there.
          await waitFor("the PATCH streaming in", async () => /^berth_uploads_in_progress 1$/m.test(await (await fetch(`${url()}/metrics`)).text()));
          controller.abort();
          await new Promise(() => undefined);
        },
      });
      await expect(
        fetch(location, { method: "PATCH", headers: { "Content-Type": "application/octet-stream" }, body, duplex: "half", signal: controller.signal } as RequestInit),
      ).rejects.toThrow();

      // The next request on the upload must not wait for the dead one for ever.
      const status = await fetch(new URL(location.pathname, url()), { signal: AbortSignal.timeout(10_000) });
      expect(status.status).toBe(204);
      expect(status.headers.get("range")).toBe("0-9999");
      const next = await fetch(location, {
        method: "PATCH",
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `10000-${10_000 + rest.length - 1}` },
        body: rest,
        signal: AbortSignal.timeout(10_000),
      });
      expect(next.status).toBe(202);
      expect(next.headers.get("range")).toBe(`0-${10_000 + rest.length - 1}`);
      const all = Buffer.concat([first, rest]);
      const done = await finishUpload(location, sha256(all));
      expect(done.status).toBe(201);
      await expectBlob(repo, sha256(all), all);
    });

    it("DELETE on an upload cancels it (204, then 404 BLOB_UPLOAD_UNKNOWN)", async () => {
      const repo = repoName("cancel");
      const data = randomBytes(2048);
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, data, 0)).status).toBe(202);
      const res = await fetch(location, { method: "DELETE" });
      expect(res.status).toBe(204);
      await expectOciError(await uploadStatus(location), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectOciError(await patchChunk(location, data, 2048), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectOciError(await finishUpload(location, sha256(data)), 404, "BLOB_UPLOAD_UNKNOWN");
      await expectOciError(await fetch(location, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
      expect((await headBlob(repo, sha256(data))).status).toBe(404);
    });

    it("sha512 digests, monolithic and chunked", async () => {
      const repo = repoName("sha512");
      const a = randomBytes(50_000);
      const mono = await pushBlob(url(), repo, a, { algorithm: "sha512" });
      expect(mono.response.status).toBe(201);
      expect(mono.digest).toBe(sha512(a));
      expect(mono.response.headers.get("docker-content-digest")).toBe(sha512(a));
      await expectBlob(repo, sha512(a), a);

      const b = randomBytes(50_000);
      const chunked = await pushBlobChunked(url(), repo, b, { chunkSize: 16_000, algorithm: "sha512" });
      expect(chunked.response.status).toBe(201);
      expect(chunked.response.headers.get("docker-content-digest")).toBe(sha512(b));
      await expectBlob(repo, sha512(b), b);
      // Content pushed under sha512 is addressed by that digest only.
      expect((await headBlob(repo, sha256(b))).status).toBe(404);

      const c = randomBytes(40_000);
      const withPut = await pushBlobChunked(url(), repo, c, { chunkSize: 15_000, algorithm: "sha512", lastChunkInPut: true });
      expect(withPut.response.status).toBe(201);
      await expectBlob(repo, sha512(c), c);
    });

    it("a monolithic digest mismatch is 400 DIGEST_INVALID and stores nothing", async () => {
      const repo = repoName("mismatch-mono");
      const data = randomBytes(5_000);
      const claimed = sha256(randomBytes(16));
      const { response } = await pushBlob(url(), repo, data, { digest: claimed });
      await expectOciError(response, 400, "DIGEST_INVALID");
      expect((await headBlob(repo, claimed)).status).toBe(404);
      expect((await headBlob(repo, sha256(data))).status).toBe(404);
    });

    it("a digest mismatch on the closing PUT is 400 DIGEST_INVALID, stores nothing and ends the session", async () => {
      const repo = repoName("mismatch-chunked");
      const data = randomBytes(60_000);
      const claimed = sha256(randomBytes(16));
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, data.subarray(0, 30_000), 0)).status).toBe(202);
      const res = await finishUpload(location, claimed, data.subarray(30_000));
      await expectOciError(res, 400, "DIGEST_INVALID");
      expect((await headBlob(repo, claimed)).status).toBe(404);
      expect((await headBlob(repo, sha256(data))).status).toBe(404);
      await expectOciError(await uploadStatus(location), 404, "BLOB_UPLOAD_UNKNOWN");
    });

    it("an empty blob (size 0), monolithic and POST-then-PUT", async () => {
      const empty = Buffer.alloc(0);
      expect(sha256(empty)).toBe(EMPTY_SHA256);
      const repo = repoName("empty");
      const { response } = await pushBlob(url(), repo, empty);
      expect(response.status).toBe(201);
      const head = await headBlob(repo, EMPTY_SHA256);
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe("0");
      expect(head.headers.get("docker-content-digest")).toBe(EMPTY_SHA256);
      await expectBlob(repo, EMPTY_SHA256, empty);

      const repo2 = repoName("empty-session");
      const { location } = await startUpload(url(), repo2);
      const done = await finishUpload(location, EMPTY_SHA256);
      expect(done.status).toBe(201);
      await expectBlob(repo2, EMPTY_SHA256, empty);
    });

    it("HEAD and GET carry Content-Length, Docker-Content-Digest and ETag", async () => {
      const repo = repoName("headers");
      const data = randomBytes(7_777);
      const digest = await putBlob(url(), repo, data);
      const head = await headBlob(repo, digest);
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe("7777");
      expect(head.headers.get("docker-content-digest")).toBe(digest);
      expect(head.headers.get("etag")).toContain(digest);
      expect(await head.text()).toBe("");

      const get = await fetch(`${url()}/v2/${repo}/blobs/${digest}`);
      expect(get.status).toBe(200);
      expect(get.headers.get("content-length")).toBe("7777");
      expect(get.headers.get("docker-content-digest")).toBe(digest);
      expect(get.headers.get("etag")).toBe(head.headers.get("etag"));
      expect((await bodyBytes(get)).equals(data)).toBe(true);

      await expectOciError(await fetch(`${url()}/v2/${repo}/blobs/${sha256(randomBytes(8))}`), 404, "BLOB_UNKNOWN");
    });

    it("Range GET answers 206 with Content-Range (first-last, open-ended, suffix) and 416 when unsatisfiable", async () => {
      const repo = repoName("range");
      const data = randomBytes(1000);
      const digest = await putBlob(url(), repo, data);
      const get = (range: string) => fetch(`${url()}/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });

      const cases: Array<[string, number, number]> = [
        ["bytes=10-19", 10, 19],
        ["bytes=0-0", 0, 0],
        ["bytes=990-", 990, 999],
        ["bytes=-5", 995, 999],
        ["bytes=900-5000", 900, 999], // last beyond the end is clamped
        ["bytes=-5000", 0, 999], // suffix longer than the blob is the whole blob
      ];
      for (const [range, first, last] of cases) {
        const res = await get(range);
        expect({ range, status: res.status }).toEqual({ range, status: 206 });
        expect(res.headers.get("content-range")).toBe(`bytes ${first}-${last}/1000`);
        expect(res.headers.get("content-length")).toBe(String(last - first + 1));
        expect((await bodyBytes(res)).equals(data.subarray(first, last + 1))).toBe(true);
      }
      for (const range of ["bytes=1000-", "bytes=2000-3000", "bytes=1000-1000"]) {
        const res = await get(range);
        expect({ range, status: res.status }).toEqual({ range, status: 416 });
        expect(res.headers.get("content-range")).toBe("bytes */1000");
        await res.arrayBuffer();
      }
    });

    it("a blob is readable only in repositories it was pushed or mounted to", async () => {
      const a = repoName("mount-a");
      const b = repoName("mount-b");
      const data = randomBytes(3_000);
      const digest = await putBlob(url(), a, data);

      await expectOciError(await fetch(`${url()}/v2/${b}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
      expect((await headBlob(b, digest)).status).toBe(404);

      const mount = await fetch(`${url()}/v2/${b}/blobs/uploads/?mount=${digest}&from=${a}`, { method: "POST" });
      expect(mount.status).toBe(201);
      expect(mount.headers.get("docker-content-digest")).toBe(digest);
      expect(locationOf(url(), mount).pathname).toBe(`/v2/${b}/blobs/${digest}`);
      await expectBlob(b, digest, data);
      await expectBlob(a, digest, data);
    });

    it("a mount from a repository lacking the blob falls back to an upload session (202)", async () => {
      const source = repoName("mount-empty-source");
      const target = repoName("mount-target");
      const data = randomBytes(2_000);
      // The blob exists in the registry, but not in `source`.
      await putBlob(url(), repoName("mount-elsewhere"), data);
      const res = await fetch(`${url()}/v2/${target}/blobs/uploads/?mount=${sha256(data)}&from=${source}`, { method: "POST" });
      expect(res.status).toBe(202);
      const location = locationOf(url(), res);
      expect(location.pathname).toContain(`/v2/${target}/blobs/uploads/`);
      expect((await headBlob(target, sha256(data))).status).toBe(404);
      // The session works like any other.
      const done = await finishUpload(location, sha256(data), data);
      expect(done.status).toBe(201);
      await expectBlob(target, sha256(data), data);
    });

    it("DELETE on a blob is 202, then 404 in that repository only", async () => {
      const a = repoName("delete-blob-a");
      const b = repoName("delete-blob-b");
      const data = randomBytes(1_500);
      const digest = await putBlob(url(), a, data);
      expect((await fetch(`${url()}/v2/${b}/blobs/uploads/?mount=${digest}&from=${a}`, { method: "POST" })).status).toBe(201);

      const res = await fetch(`${url()}/v2/${a}/blobs/${digest}`, { method: "DELETE" });
      expect(res.status).toBe(202);
      await expectOciError(await fetch(`${url()}/v2/${a}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
      expect((await headBlob(a, digest)).status).toBe(404);
      await expectOciError(await fetch(`${url()}/v2/${a}/blobs/${digest}`, { method: "DELETE" }), 404, "BLOB_UNKNOWN");
      await expectBlob(b, digest, data);
    });

    it("a 64 MiB blob pushed in chunks reads back with the same sha256", async () => {
      const repo = repoName("big");
      const chunkSize = 8 * MiB;
      const chunks = 8;
      const hash = createHash("sha256");
      let { location } = await startUpload(url(), repo);
      for (let i = 0; i < chunks; i++) {
        const chunk = randomBytes(chunkSize); // one chunk in memory at a time
        hash.update(chunk);
        const res = await patchChunk(location, chunk, i * chunkSize);
        expect(res.status).toBe(202);
        expect(res.headers.get("range")).toBe(`0-${(i + 1) * chunkSize - 1}`);
        location = locationOf(url(), res);
      }
      const digest = `sha256:${hash.digest("hex")}`;
      const done = await finishUpload(location, digest);
      expect(done.status).toBe(201);

      const res = await fetch(`${url()}/v2/${repo}/blobs/${digest}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-length")).toBe(String(chunks * chunkSize));
      expect(await digestResponse(res)).toEqual({ digest, size: chunks * chunkSize });
    });

    it("an upload resumes after a restart (the digest is rebuilt from storage)", async () => {
      const repo = repoName("restart");
      const data = randomBytes(3 * MiB + 123);
      const split = 1 * MiB + 7;
      const earlier = buildImage();
      expect((await pushImage(url(), repo, earlier, "before")).status).toBe(201);
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, data.subarray(0, split), 0)).status).toBe(202);

      await registry.restart(); // same data dir and database, new process state and port

      const resumed = new URL(location.pathname + location.search, url());
      const status = await uploadStatus(resumed);
      expect(status.status).toBe(204);
      expect(status.headers.get("range")).toBe(`0-${split - 1}`);
      const res = await patchChunk(resumed, data.subarray(split, 2 * MiB), split);
      expect(res.status).toBe(202);
      const done = await finishUpload(locationOf(url(), res), sha256(data), data.subarray(2 * MiB));
      expect(done.status).toBe(201);
      await expectBlob(repo, sha256(data), data);
      // What was pushed before the restart is still there.
      const before = await getManifest(url(), repo, "before");
      expect(before.status).toBe(200);
      expect((await bodyBytes(before)).equals(earlier.bytes)).toBe(true);
      await expectBlob(repo, earlier.layers[0].descriptor.digest, earlier.layers[0].data);
    }, 120_000);
  });

  // -------------------------------------------------------------------------------------------------------
  describe("manifests", () => {
    /** Pushes what `kind` needs (blobs, child manifests) and returns the manifest to test. */
    async function prepare(kind: string, repo: string): Promise<BuiltManifest> {
      switch (kind) {
        case "OCI image manifest": {
          const image = buildImage({ format: "oci", annotations: { "org.example.kind": "image" } });
          for (const blob of [image.config, ...image.layers]) await putBlob(url(), repo, blob.data);
          return image;
        }
        case "Docker schema 2 manifest": {
          const image = buildImage({ format: "docker" });
          for (const blob of [image.config, ...image.layers]) await putBlob(url(), repo, blob.data);
          return image;
        }
        case "OCI image index":
        case "Docker manifest list": {
          const format = kind === "OCI image index" ? "oci" : "docker";
          const children = [buildImage({ format }), buildImage({ format })];
          for (const child of children) expect((await pushImage(url(), repo, child)).status).toBe(201);
          return buildIndex(children, { format });
        }
      }
      throw new Error(kind);
    }

    it.each(["OCI image manifest", "OCI image index", "Docker schema 2 manifest", "Docker manifest list"])(
      "%s: PUT, GET and HEAD by tag and by digest, byte for byte; DELETE",
      async (kind) => {
        const repo = repoName("manifest");
        const manifest = await prepare(kind, repo);
        // The pushed JSON is deliberately odd: a registry that re-serialises would change the digest.
        expect(manifest.bytes.toString()).not.toBe(JSON.stringify(JSON.parse(manifest.bytes.toString())));

        const put = await pushManifest(url(), repo, "v1", manifest.bytes, manifest.mediaType);
        expect(put.status).toBe(201);
        expect(put.headers.get("docker-content-digest")).toBe(manifest.digest);
        expect(locationOf(url(), put).pathname).toBe(`/v2/${repo}/manifests/${manifest.digest}`);

        for (const ref of ["v1", manifest.digest]) {
          const get = await getManifest(url(), repo, ref, manifest.mediaType);
          expect(get.status).toBe(200);
          expect(get.headers.get("content-type")).toBe(manifest.mediaType);
          expect(get.headers.get("docker-content-digest")).toBe(manifest.digest);
          expect(get.headers.get("content-length")).toBe(String(manifest.bytes.length));
          const bytes = await bodyBytes(get);
          expect(bytes.toString()).toBe(manifest.bytes.toString());
          expect(bytes.equals(manifest.bytes)).toBe(true);

          const head = await getManifest(url(), repo, ref, manifest.mediaType, "HEAD");
          expect(head.status).toBe(200);
          expect(head.headers.get("content-type")).toBe(manifest.mediaType);
          expect(head.headers.get("docker-content-digest")).toBe(manifest.digest);
          expect(head.headers.get("content-length")).toBe(String(manifest.bytes.length));
          expect(await head.text()).toBe("");
        }

        // PUT by digest (the same content again) is accepted too.
        const byDigest = await pushManifest(url(), repo, manifest.digest, manifest.bytes, manifest.mediaType);
        expect(byDigest.status).toBe(201);
        expect(byDigest.headers.get("docker-content-digest")).toBe(manifest.digest);

        const del = await fetch(`${url()}/v2/${repo}/manifests/${manifest.digest}`, { method: "DELETE" });
        expect(del.status).toBe(202);
        await expectOciError(await getManifest(url(), repo, manifest.digest, manifest.mediaType), 404, "MANIFEST_UNKNOWN");
        await expectOciError(await getManifest(url(), repo, "v1", manifest.mediaType), 404, "MANIFEST_UNKNOWN");
        expect((await getManifest(url(), repo, manifest.digest, manifest.mediaType, "HEAD")).status).toBe(404);
        await expectOciError(await fetch(`${url()}/v2/${repo}/manifests/${manifest.digest}`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
      },
    );

    it("a manifest pushed by digest only is readable by that digest", async () => {
      const repo = repoName("by-digest");
      const image = buildImage();
      const put = await pushImage(url(), repo, image, image.digest);
      expect(put.status).toBe(201);
      expect(put.headers.get("docker-content-digest")).toBe(image.digest);
      const get = await getManifest(url(), repo, image.digest);
      expect(get.status).toBe(200);
      expect((await bodyBytes(get)).equals(image.bytes)).toBe(true);
    });

    it("a manifest pushed by a sha512 digest is stored under that digest", async () => {
      const repo = repoName("by-sha512");
      const image = buildImage();
      const digest = sha512(image.bytes);
      const put = await pushImage(url(), repo, image, digest);
      expect(put.status).toBe(201);
      expect(put.headers.get("docker-content-digest")).toBe(digest);
      expect(put.headers.get("oci-subject")).toBeNull();
      const get = await getManifest(url(), repo, digest);
      expect(get.status).toBe(200);
      expect(get.headers.get("docker-content-digest")).toBe(digest);
      expect((await bodyBytes(get)).equals(image.bytes)).toBe(true);
    });

    it("PUT by digest with the wrong digest is 400 DIGEST_INVALID", async () => {
      const repo = repoName("wrong-digest");
      const image = buildImage();
      const wrong = sha256(Buffer.concat([image.bytes, Buffer.from(" ")]));
      const res = await pushImage(url(), repo, image, wrong);
      await expectOciError(res, 400, "DIGEST_INVALID");
      await expectOciError(await getManifest(url(), repo, wrong), 404, "MANIFEST_UNKNOWN");
      await expectOciError(await getManifest(url(), repo, image.digest), 404, "MANIFEST_UNKNOWN");
    });

    it("a schema 1 manifest is 400 MANIFEST_INVALID with a clear detail", async () => {
      const repo = repoName("schema1");
      const schema1 = JSON.stringify({
        schemaVersion: 1,
        name: repo,
        tag: "old",
        architecture: "amd64",
        fsLayers: [{ blobSum: EMPTY_SHA256 }],
        history: [{ v1Compatibility: "{}" }],
      });
      for (const type of [MediaTypes.DOCKER_SCHEMA1_SIGNED, MediaTypes.DOCKER_SCHEMA1, "application/json"]) {
        const body = await expectOciError(await pushManifest(url(), repo, "old", schema1, type), 400, "MANIFEST_INVALID");
        expect(JSON.stringify(body.errors[0].detail)).toMatch(/schema ?1|schemaVersion/i);
      }
      await expectOciError(await getManifest(url(), repo, "old"), 404, "MANIFEST_UNKNOWN");
    });

    it("invalid JSON is 400 MANIFEST_INVALID", async () => {
      const repo = repoName("bad-json");
      for (const body of ['{"schemaVersion": 2, "mediaType": ', "not json", "[]", "", '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}']) {
        await expectOciError(await pushManifest(url(), repo, "t", body, MediaTypes.OCI_MANIFEST), 400, "MANIFEST_INVALID");
      }
      await expectOciError(await getManifest(url(), repo, "t"), 404, "MANIFEST_UNKNOWN");
    });

    it("a manifest naming a missing config or layer is 400 MANIFEST_BLOB_UNKNOWN", async () => {
      const repo = repoName("missing-blob");
      const image = buildImage({ layers: 2 });
      // Layers but no config.
      for (const layer of image.layers) await putBlob(url(), repo, layer.data);
      await expectOciError(await pushManifest(url(), repo, "t", image.bytes, image.mediaType), 400, "MANIFEST_BLOB_UNKNOWN");

      // Config and the first layer, but not the second.
      const image2 = buildImage({ layers: 2 });
      await putBlob(url(), repo, image2.config.data);
      await putBlob(url(), repo, image2.layers[0].data);
      await expectOciError(await pushManifest(url(), repo, "t", image2.bytes, image2.mediaType), 400, "MANIFEST_BLOB_UNKNOWN");

      // A blob present in another repository does not count.
      const image3 = buildImage({ layers: 1 });
      const other = repoName("missing-blob-other");
      for (const blob of [image3.config, ...image3.layers]) await putBlob(url(), other, blob.data);
      await expectOciError(await pushManifest(url(), repo, "t", image3.bytes, image3.mediaType), 400, "MANIFEST_BLOB_UNKNOWN");

      await expectOciError(await getManifest(url(), repo, "t"), 404, "MANIFEST_UNKNOWN");
      await expectOciError(await getManifest(url(), repo, image.digest), 404, "MANIFEST_UNKNOWN");
    });

    it("an index naming a missing child manifest is 400 MANIFEST_BLOB_UNKNOWN", async () => {
      const repo = repoName("missing-child");
      const present = buildImage();
      expect((await pushImage(url(), repo, present)).status).toBe(201);
      const absent = buildImage(); // never pushed
      const index = buildIndex([present, absent]);
      await expectOciError(await pushManifest(url(), repo, "multi", index.bytes, index.mediaType), 400, "MANIFEST_BLOB_UNKNOWN");
      await expectOciError(await getManifest(url(), repo, "multi"), 404, "MANIFEST_UNKNOWN");
    });

    it("a manifest over 4 MiB is 413 SIZE_INVALID; one of exactly 4 MiB is accepted", async () => {
      const repo = repoName("huge");
      const image = buildImage({ layers: 1 });
      for (const blob of [image.config, ...image.layers]) await putBlob(url(), repo, blob.data);
      const sized = (size: number) => {
        const head = `{"schemaVersion":2,"mediaType":"${MediaTypes.OCI_MANIFEST}","config":${JSON.stringify(image.config.descriptor)},` +
          `"layers":[${JSON.stringify(image.layers[0].descriptor)}],"annotations":{"pad":"`;
        const tail = `"}}`;
        return Buffer.from(head + "x".repeat(size - head.length - tail.length) + tail);
      };
      const tooBig = sized(4 * MiB + 1);
      await expectOciError(await pushManifest(url(), repo, "big", tooBig, MediaTypes.OCI_MANIFEST), 413, "SIZE_INVALID");
      await expectOciError(await getManifest(url(), repo, "big"), 404, "MANIFEST_UNKNOWN");

      const limit = sized(4 * MiB);
      expect(limit.length).toBe(4 * MiB);
      const ok = await pushManifest(url(), repo, "limit", limit, MediaTypes.OCI_MANIFEST);
      expect(ok.status).toBe(201);
      const get = await getManifest(url(), repo, "limit");
      expect(get.status).toBe(200);
      expect((await bodyBytes(get)).equals(limit)).toBe(true);
    });

    it("a manifest over 4 MiB streamed without Content-Length is 413 SIZE_INVALID, and the connection is not left hanging", async () => {
      const repo = repoName("huge-stream");
      // 10 MiB of JSON whitespace in chunks, on a connection of its own (a hung one must not stall fetch's pool).
      const chunks = Array.from({ length: 160 }, () => Buffer.alloc(64 * 1024, 0x20));
      const result = await chunkedRequestThenReuse(url(), "PUT", `/v2/${repo}/manifests/big`, { "Content-Type": MediaTypes.OCI_MANIFEST }, chunks);
      expect(result.first).not.toBeNull();
      expectRawOciError(result.first!, 413, "SIZE_INVALID");
      // After answering early the server must either read (and drop) the rest of the body, so the connection
      // serves the next request, or close the connection. Stopping reading while keeping it open hangs the client.
      const { bodyWritten, serverClosed, followUp } = result;
      expect({ bodyWritten, serverClosed, followUp, ok: serverClosed || followUp === 200 }).toEqual(
        expect.objectContaining({ ok: true }),
      );
      await expectOciError(await getManifest(url(), repo, "big"), 404, "MANIFEST_UNKNOWN");
    });

    it("Accept negotiation: an OCI manifest is not served to a client accepting only Docker types", async () => {
      const repo = repoName("accept");
      const image = buildImage({ format: "oci" });
      expect((await pushImage(url(), repo, image, "t")).status).toBe(201);
      const dockerOnly = `${MediaTypes.DOCKER_MANIFEST}, ${MediaTypes.DOCKER_MANIFEST_LIST}`;
      await expectOciError(await getManifest(url(), repo, "t", dockerOnly), 404, "MANIFEST_UNKNOWN");
      await expectOciError(await getManifest(url(), repo, image.digest, dockerOnly), 404, "MANIFEST_UNKNOWN");
      expect((await getManifest(url(), repo, "t", dockerOnly, "HEAD")).status).toBe(404);

      for (const accept of [
        MediaTypes.OCI_MANIFEST,
        `${MediaTypes.DOCKER_MANIFEST}, ${MediaTypes.OCI_MANIFEST};q=0.5`,
        `${MediaTypes.OCI_INDEX},${MediaTypes.OCI_MANIFEST}`,
        "*/*",
      ]) {
        const res = await getManifest(url(), repo, "t", accept);
        expect({ accept, status: res.status }).toEqual({ accept, status: 200 });
        expect(res.headers.get("content-type")).toBe(MediaTypes.OCI_MANIFEST);
        expect((await bodyBytes(res)).equals(image.bytes)).toBe(true);
      }
      // No Accept header at all (fetch always sends one, so go through node:http).
      const raw = await rawRequest(url(), "GET", `/v2/${repo}/manifests/t`);
      expect(raw.status).toBe(200);
      expect(raw.headers["content-type"]).toBe(MediaTypes.OCI_MANIFEST);
      expect(raw.body.equals(image.bytes)).toBe(true);
    });

    it("DELETE by tag removes only the tag", async () => {
      const repo = repoName("delete-tag");
      const image = buildImage();
      expect((await pushImage(url(), repo, image, "one")).status).toBe(201);
      expect((await pushManifest(url(), repo, "two", image.bytes, image.mediaType)).status).toBe(201);

      const del = await fetch(`${url()}/v2/${repo}/manifests/one`, { method: "DELETE" });
      expect(del.status).toBe(202);
      await expectOciError(await getManifest(url(), repo, "one"), 404, "MANIFEST_UNKNOWN");
      const byDigest = await getManifest(url(), repo, image.digest);
      expect(byDigest.status).toBe(200);
      expect((await bodyBytes(byDigest)).equals(image.bytes)).toBe(true);
      expect((await getManifest(url(), repo, "two")).status).toBe(200);
      const tags = await fetch(`${url()}/v2/${repo}/tags/list`);
      expect(await tags.json()).toEqual({ name: repo, tags: ["two"] });
      await expectOciError(await fetch(`${url()}/v2/${repo}/manifests/one`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
    });

    it("DELETE by digest removes the manifest and every tag on it", async () => {
      const repo = repoName("delete-digest");
      const image = buildImage();
      const keep = buildImage();
      expect((await pushImage(url(), repo, image, "a")).status).toBe(201);
      expect((await pushManifest(url(), repo, "b", image.bytes, image.mediaType)).status).toBe(201);
      expect((await pushImage(url(), repo, keep, "keep")).status).toBe(201);

      expect((await fetch(`${url()}/v2/${repo}/manifests/${image.digest}`, { method: "DELETE" })).status).toBe(202);
      for (const ref of ["a", "b", image.digest]) {
        await expectOciError(await getManifest(url(), repo, ref), 404, "MANIFEST_UNKNOWN");
      }
      const tags = await fetch(`${url()}/v2/${repo}/tags/list`);
      expect(await tags.json()).toEqual({ name: repo, tags: ["keep"] });
      expect((await getManifest(url(), repo, "keep")).status).toBe(200);
    });

    it("re-pushing a tag moves it", async () => {
      const repo = repoName("move-tag");
      const first = buildImage();
      const second = buildImage();
      expect((await pushImage(url(), repo, first, "latest")).status).toBe(201);
      expect((await pushImage(url(), repo, second, "latest")).status).toBe(201);
      const latest = await getManifest(url(), repo, "latest");
      expect(latest.headers.get("docker-content-digest")).toBe(second.digest);
      expect((await bodyBytes(latest)).equals(second.bytes)).toBe(true);
      expect((await getManifest(url(), repo, first.digest)).status).toBe(200);
      expect(await (await fetch(`${url()}/v2/${repo}/tags/list`)).json()).toEqual({ name: repo, tags: ["latest"] });
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe("subject and referrers", () => {
    const SBOM = "application/vnd.example.sbom.v1";
    const SIGNATURE_CONFIG = "application/vnd.example.signature.config.v1+json";
    const BUNDLE = "application/vnd.example.bundle.v1";

    /** An artifact manifest (empty config unless configMediaType is given) with one layer, pointing at subject. */
    async function pushArtifact(repo: string, subject: Descriptor, options: { artifactType?: string; configMediaType?: string; annotations?: Record<string, string> }) {
      const config = options.configMediaType ? Buffer.from(`{"signer":"${uniqueSuffix()}"}`) : Buffer.from("{}");
      const artifact = buildImage({
        layers: 1,
        layerSize: 64,
        config,
        configMediaType: options.configMediaType ?? MediaTypes.OCI_EMPTY,
        artifactType: options.artifactType,
        subject,
        annotations: options.annotations,
      });
      const res = await pushImage(url(), repo, artifact);
      expect(res.status).toBe(201);
      expect(res.headers.get("oci-subject")).toBe(subject.digest);
      return artifact;
    }

    async function referrers(repo: string, digest: string, artifactType?: string): Promise<Response> {
      const query = artifactType === undefined ? "" : `?artifactType=${encodeURIComponent(artifactType)}`;
      return fetch(`${url()}/v2/${repo}/referrers/${digest}${query}`);
    }

    it("lists referrers with artifactType (explicit or the config's media type) and annotations; filters by artifactType", async () => {
      const repo = repoName("referrers");
      const subject = buildImage();
      expect((await pushImage(url(), repo, subject, "app")).status).toBe(201);

      const sbom = await pushArtifact(repo, subject.descriptor, { artifactType: SBOM, annotations: { "org.example.created": "2024-01-01", "org.example.k": "v" } });
      const signature = await pushArtifact(repo, subject.descriptor, { configMediaType: SIGNATURE_CONFIG });
      const bundle = buildIndex([], { artifactType: BUNDLE, subject: subject.descriptor, annotations: { "org.example.bundle": "yes" } });
      const bundlePut = await pushManifest(url(), repo, bundle.digest, bundle.bytes, bundle.mediaType);
      expect(bundlePut.status).toBe(201);
      expect(bundlePut.headers.get("oci-subject")).toBe(subject.digest);
      // An unrelated manifest in the same repository is not a referrer.
      expect((await pushImage(url(), repo, buildImage())).status).toBe(201);

      const res = await referrers(repo, subject.digest);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(MediaTypes.OCI_INDEX);
      expect(res.headers.get("oci-filters-applied")).toBeNull();
      const index = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: Descriptor[] };
      expect(index.schemaVersion).toBe(2);
      expect(index.mediaType).toBe(MediaTypes.OCI_INDEX);
      expect(index.manifests).toHaveLength(3);
      expect(index.manifests).toEqual(
        expect.arrayContaining([
          { mediaType: MediaTypes.OCI_MANIFEST, digest: sbom.digest, size: sbom.bytes.length, artifactType: SBOM, annotations: { "org.example.created": "2024-01-01", "org.example.k": "v" } },
          { mediaType: MediaTypes.OCI_MANIFEST, digest: signature.digest, size: signature.bytes.length, artifactType: SIGNATURE_CONFIG },
          { mediaType: MediaTypes.OCI_INDEX, digest: bundle.digest, size: bundle.bytes.length, artifactType: BUNDLE, annotations: { "org.example.bundle": "yes" } },
        ]),
      );

      const filtered = await referrers(repo, subject.digest, SBOM);
      expect(filtered.status).toBe(200);
      expect(filtered.headers.get("content-type")).toBe(MediaTypes.OCI_INDEX);
      expect(filtered.headers.get("oci-filters-applied")).toBe("artifactType");
      const filteredIndex = (await filtered.json()) as { manifests: Descriptor[] };
      expect(filteredIndex.manifests.map((m) => m.digest)).toEqual([sbom.digest]);

      const byConfigType = (await (await referrers(repo, subject.digest, SIGNATURE_CONFIG)).json()) as { manifests: Descriptor[] };
      expect(byConfigType.manifests.map((m) => m.digest)).toEqual([signature.digest]);

      const none = await referrers(repo, subject.digest, "application/vnd.example.nothing");
      expect(none.status).toBe(200);
      expect(none.headers.get("oci-filters-applied")).toBe("artifactType");
      expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);

      // Deleting a referrer takes it out of the list.
      expect((await fetch(`${url()}/v2/${repo}/manifests/${sbom.digest}`, { method: "DELETE" })).status).toBe(202);
      const after = (await (await referrers(repo, subject.digest)).json()) as { manifests: Descriptor[] };
      expect(after.manifests.map((m) => m.digest).sort()).toEqual([signature.digest, bundle.digest].sort());
    });

    it("the subject need not exist before its referrer is pushed", async () => {
      const repo = repoName("referrers-early");
      const subject = buildImage();
      const sbom = await pushArtifact(repo, subject.descriptor, { artifactType: SBOM });
      await expectOciError(await getManifest(url(), repo, subject.digest), 404, "MANIFEST_UNKNOWN");

      const before = (await (await referrers(repo, subject.digest)).json()) as { manifests: Descriptor[] };
      expect(before.manifests.map((m) => m.digest)).toEqual([sbom.digest]);

      expect((await pushImage(url(), repo, subject, "later")).status).toBe(201);
      const after = (await (await referrers(repo, subject.digest)).json()) as { manifests: Descriptor[] };
      expect(after.manifests.map((m) => m.digest)).toEqual([sbom.digest]);
    });

    it("an unknown subject has an empty referrers index (200)", async () => {
      const repo = repoName("referrers-none");
      expect((await pushImage(url(), repo, buildImage(), "x")).status).toBe(201);
      const res = await referrers(repo, sha256(randomBytes(32)));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(MediaTypes.OCI_INDEX);
      expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests: [] });
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe("tags list and catalog", () => {
    /** Follows Link headers from `first`, checking each page's size; returns every page's items in order. */
    async function collectPages<T extends string>(first: string, key: "tags" | "repositories", pageSize: number): Promise<{ items: T[]; pages: number }> {
      const items: T[] = [];
      let pages = 0;
      for (let next: string | null = first; next; ) {
        const res = await fetch(next);
        expect(res.status).toBe(200);
        const page = ((await res.json()) as Record<string, T[]>)[key] ?? [];
        next = nextLink(url(), res);
        if (next) expect(page).toHaveLength(pageSize);
        else expect(page.length).toBeLessThanOrEqual(pageSize);
        items.push(...page);
        pages++;
        expect(pages).toBeLessThan(1000);
      }
      return { items, pages };
    }

    it("tags are listed in lexical (byte) order and paginate with n/last and Link until exhausted", async () => {
      const repo = repoName("tags");
      const image = buildImage();
      const tags = ["v1", "V2", "latest", "a-b", "a_b", "a.b", "1.0", "Z", "z", "_x", "a", "aa", "a0"];
      expect((await pushImage(url(), repo, image, tags[0])).status).toBe(201);
      for (const tag of tags.slice(1)) expect((await pushManifest(url(), repo, tag, image.bytes, image.mediaType)).status).toBe(201);
      const sorted = [...tags].sort(); // code-unit order, which for ASCII is byte order

      const all = await fetch(`${url()}/v2/${repo}/tags/list`);
      expect(all.status).toBe(200);
      expect(all.headers.get("content-type")?.split(";")[0]).toBe("application/json");
      expect(all.headers.get("link")).toBeNull();
      expect(await all.json()).toEqual({ name: repo, tags: sorted });

      const first = await fetch(`${url()}/v2/${repo}/tags/list?n=3`);
      const link = nextLink(url(), first);
      expect(link).not.toBeNull();
      const linkUrl = new URL(link!);
      expect(linkUrl.pathname).toBe(`/v2/${repo}/tags/list`);
      expect(linkUrl.searchParams.get("n")).toBe("3");
      expect(linkUrl.searchParams.get("last")).toBe(sorted[2]);
      expect(((await first.json()) as { tags: string[] }).tags).toEqual(sorted.slice(0, 3));

      for (const n of [1, 3, 5, tags.length, tags.length + 1]) {
        const { items } = await collectPages(`${url()}/v2/${repo}/tags/list?n=${n}`, "tags", n);
        expect({ n, items }).toEqual({ n, items: sorted });
      }

      const fromMiddle = await fetch(`${url()}/v2/${repo}/tags/list?n=2&last=${encodeURIComponent(sorted[5])}`);
      expect(((await fromMiddle.json()) as { tags: string[] }).tags).toEqual(sorted.slice(6, 8));
      const pastEnd = await fetch(`${url()}/v2/${repo}/tags/list?n=2&last=zzz`);
      expect(pastEnd.status).toBe(200);
      expect(pastEnd.headers.get("link")).toBeNull();
      expect(((await pastEnd.json()) as { tags?: string[] }).tags ?? []).toEqual([]);
    });

    it("n=0 answers an empty page without a Link", async () => {
      const repo = repoName("tags-zero");
      expect((await pushImage(url(), repo, buildImage(), "t")).status).toBe(201);
      const res = await fetch(`${url()}/v2/${repo}/tags/list?n=0`);
      expect(res.status).toBe(200);
      expect(res.headers.get("link")).toBeNull();
      expect(((await res.json()) as { tags?: string[] }).tags ?? []).toEqual([]);
      const catalog = await fetch(`${url()}/v2/_catalog?n=0`);
      expect(catalog.status).toBe(200);
      expect(catalog.headers.get("link")).toBeNull();
      expect(((await catalog.json()) as { repositories?: string[] }).repositories ?? []).toEqual([]);
    });

    it("an invalid n is 400 PAGINATION_NUMBER_INVALID", async () => {
      const repo = repoName("tags-bad-n");
      expect((await pushImage(url(), repo, buildImage(), "t")).status).toBe(201);
      for (const n of ["-1", "abc", "1.5", "1e3", " 2"]) {
        await expectOciError(await fetch(`${url()}/v2/${repo}/tags/list?n=${encodeURIComponent(n)}`), 400, "PAGINATION_NUMBER_INVALID");
        await expectOciError(await fetch(`${url()}/v2/_catalog?n=${encodeURIComponent(n)}`), 400, "PAGINATION_NUMBER_INVALID");
      }
    });

    it("the tags list of an unknown repository is 404 NAME_UNKNOWN", async () => {
      await expectOciError(await fetch(`${url()}/v2/${repoName("never-pushed")}/tags/list`), 404, "NAME_UNKNOWN");
      await expectOciError(await fetch(`${url()}/v2/${repoName("never")}/pushed/tags/list`), 404, "NAME_UNKNOWN");
    });

    it("a repository with only blobs or an abandoned upload is unknown to the tags list, as to the catalog", async () => {
      // The CNCF registry answers NAME_UNKNOWN here (no tags were ever written), and Berth's own catalog
      // does not list such repositories either.
      const blobsOnly = repoName("blobs-only");
      await putBlob(url(), blobsOnly, randomBytes(32));
      const uploadOnly = repoName("upload-only");
      const { location } = await startUpload(url(), uploadOnly);
      expect((await fetch(location, { method: "DELETE" })).status).toBe(204);
      const catalog = await fullCatalog();
      for (const name of [blobsOnly, uploadOnly]) {
        expect(catalog).not.toContain(name);
        await expectOciError(await fetch(`${url()}/v2/${name}/tags/list`), 404, "NAME_UNKNOWN");
      }
    });

    it("nested names (team/app/api) work everywhere", async () => {
      const suffix = uniqueSuffix();
      const repo = `team-${suffix}/app/api`;
      const deeper = `team-${suffix}/app/api/v2/x`;
      for (const name of [repo, deeper]) {
        const image = buildImage();
        expect((await pushImage(url(), name, image, "stable")).status).toBe(201);
        expect((await getManifest(url(), name, "stable")).status).toBe(200);
        expect(await (await fetch(`${url()}/v2/${name}/tags/list`)).json()).toEqual({ name, tags: ["stable"] });
        await expectBlob(name, image.config.descriptor.digest, image.config.data);
        const { location } = await startUpload(url(), name);
        expect(location.pathname.startsWith(`/v2/${name}/blobs/uploads/`)).toBe(true);
        expect((await fetch(location, { method: "DELETE" })).status).toBe(204);
      }
      // Nested repositories are distinct: the parent knows nothing of the child's content.
      await expectOciError(await fetch(`${url()}/v2/team-${suffix}/app/tags/list`), 404, "NAME_UNKNOWN");
      const catalog = await fullCatalog();
      expect(catalog).toEqual(expect.arrayContaining([repo, deeper]));
    });

    it("the catalog is sorted and its pages, followed through Link, give every repository exactly once", async () => {
      const prefix = `catalog-${uniqueSuffix()}`;
      const names = [`${prefix}/b`, `${prefix}/a`, `${prefix}/a/nested`, `${prefix}-x`, `${prefix}/c`, `${prefix}.d`, `${prefix}_e`];
      const image = buildImage({ layers: 1, layerSize: 16 });
      for (const name of names) expect((await pushImage(url(), name, image, "t")).status).toBe(201);
      // A repository with blobs but no manifest is not listed.
      await putBlob(url(), `${prefix}/blobs-only`, randomBytes(16));

      const everything = await fullCatalog();
      expect(everything).toEqual([...everything].sort());
      expect(new Set(everything).size).toBe(everything.length);
      for (const name of names) expect(everything.filter((n) => n === name)).toHaveLength(1);
      expect(everything).not.toContain(`${prefix}/blobs-only`);

      for (const n of [1, 2, 3]) {
        const { items } = await collectPages<string>(`${url()}/v2/_catalog?n=${n}`, "repositories", n);
        expect({ n, items }).toEqual({ n, items: everything });
      }
      const page = await fetch(`${url()}/v2/_catalog?n=2&last=${encodeURIComponent(prefix)}`);
      const mine = everything.filter((n) => n > prefix);
      expect(((await page.json()) as { repositories: string[] }).repositories).toEqual(mine.slice(0, 2));
      const link = nextLink(url(), page);
      expect(link).not.toBeNull();
      expect(new URL(link!).pathname).toBe("/v2/_catalog");
      expect(new URL(link!).searchParams.get("last")).toBe(mine[1]);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe("bad input writes nothing", () => {
    it("invalid repository names are 400 NAME_INVALID", async () => {
      const valid = buildImage({ layers: 1, layerSize: 16 });
      const blob = randomBytes(32);
      const before = await snapshot();
      const names = ["Upper/case", "upper/Case", "a/../b", "..", "a/%2e%2e/b", "%2e%2e/a", "/leading", "a//b", "a/b/", "-a", "a-", "a_", "a..b", "a/.b", "a%2fb", "x".repeat(256), `${"a".repeat(200)}/${"b".repeat(55)}`];
      for (const name of names) {
        const requests: Array<[string, string, Buffer | undefined, Record<string, string>]> = [
          ["GET", `/v2/${name}/tags/list`, undefined, {}],
          ["POST", `/v2/${name}/blobs/uploads/`, undefined, {}],
          ["POST", `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, blob, {}],
          ["GET", `/v2/${name}/blobs/${sha256(blob)}`, undefined, {}],
          ["PUT", `/v2/${name}/manifests/latest`, valid.bytes, { "Content-Type": valid.mediaType }],
          ["GET", `/v2/${name}/manifests/latest`, undefined, {}],
          ["DELETE", `/v2/${name}/manifests/${valid.digest}`, undefined, {}],
          ["GET", `/v2/${name}/referrers/${valid.digest}`, undefined, {}],
        ];
        for (const [method, path, body, headers] of requests) {
          const res = await rawRequest(url(), method, path, { body, headers });
          try {
            expectRawOciError(res, 400, "NAME_INVALID");
          } catch (err) {
            throw new Error(`${method} ${path.slice(0, 120)}: ${(err as Error).message}`);
          }
        }
      }
      expect(await snapshot()).toEqual(before);
    });

    it("the longest valid names and every separator are accepted", async () => {
      const blob = randomBytes(16);
      const suffix = uniqueSuffix();
      for (const name of [`a${suffix}`.padEnd(255, "z"), `sep-${suffix}/a__b`, `sep-${suffix}/a---b`, `sep-${suffix}/a.b_c-d`, `sep-${suffix}/0/1/2`]) {
        expect(name.length).toBeLessThanOrEqual(255);
        const { response } = await pushBlob(url(), name, blob);
        expect({ name, status: response.status }).toEqual({ name, status: 201 });
      }
    });

    it("invalid tags are 400 TAG_INVALID on PUT, and name no manifest (404 MANIFEST_UNKNOWN) on GET, HEAD and DELETE", async () => {
      const repo = repoName("bad-tags");
      const image = buildImage({ layers: 1, layerSize: 16 });
      for (const blob of [image.config, ...image.layers]) await putBlob(url(), repo, blob.data);
      const before = await snapshot();
      // Sent through node:http so the path goes out as written ("%2e" would be resolved away by fetch).
      for (const tag of ["t".repeat(129), "t".repeat(130), ".hidden", "-dash", "a+b", "a%20b", "%2e", "a%2Fb"]) {
        const put = await rawRequest(url(), "PUT", `/v2/${repo}/manifests/${tag}`, { body: image.bytes, headers: { "Content-Type": image.mediaType } });
        expectRawOciError(put, 400, "TAG_INVALID");
        // As the CNCF reference registry answers: what is neither a tag nor a digest is simply not there.
        expectRawOciError(await rawRequest(url(), "GET", `/v2/${repo}/manifests/${tag}`), 404, "MANIFEST_UNKNOWN");
        expectRawOciError(await rawRequest(url(), "DELETE", `/v2/${repo}/manifests/${tag}`), 404, "MANIFEST_UNKNOWN");
        expect((await rawRequest(url(), "HEAD", `/v2/${repo}/manifests/${tag}`)).status).toBe(404);
      }
      expect(await snapshot()).toEqual(before);
      // 128 characters is the longest valid tag.
      expect((await pushManifest(url(), repo, "t".repeat(128), image.bytes, image.mediaType)).status).toBe(201);
    });

    it("invalid digests are 400 DIGEST_INVALID, except in a manifest lookup (404 MANIFEST_UNKNOWN)", async () => {
      const repo = repoName("bad-digests");
      const data = randomBytes(64);
      await putBlob(url(), repo, data);
      const image = buildImage({ layers: 1, layerSize: 16 });
      for (const blob of [image.config, ...image.layers]) await putBlob(url(), repo, blob.data);
      const { location } = await startUpload(url(), repo);
      const hex = sha256(data).slice("sha256:".length);
      const bad = [
        "sha256:abc", // too short
        `sha256:${hex.slice(1)}`, // 63 hex digits
        `sha256:${hex}0`, // 65
        `sha512:${hex}`, // sha512 wants 128
        `md5:${hex.slice(0, 32)}`, // unknown algorithm
        `foo:${hex}`, // unknown algorithm
        `sha256:${hex.toUpperCase()}`, // upper-case hex
        `sha256:${"g".repeat(64)}`, // not hex
        "sha256:",
      ];
      const before = await snapshot();
      for (const digest of bad) {
        // Raw in the path (these values need no escaping), percent-encoded in query strings.
        const d = digest;
        const q = encodeURIComponent(digest);
        const attempts: Array<[string, Promise<Response>]> = [
          ["GET blob", fetch(`${url()}/v2/${repo}/blobs/${d}`)],
          ["DELETE blob", fetch(`${url()}/v2/${repo}/blobs/${d}`, { method: "DELETE" })],
          ["POST ?digest", fetch(`${url()}/v2/${repo}/blobs/uploads/?digest=${q}`, { method: "POST", body: data })],
          ["POST ?mount", fetch(`${url()}/v2/${repo}/blobs/uploads/?mount=${q}&from=${repo}`, { method: "POST" })],
          ["PUT upload ?digest", fetch(withDigest(location, digest), { method: "PUT", body: data })],
          ["PUT manifest", pushManifest(url(), repo, d, image.bytes, image.mediaType)],
          ["DELETE manifest", fetch(`${url()}/v2/${repo}/manifests/${d}`, { method: "DELETE" })],
          ["GET referrers", fetch(`${url()}/v2/${repo}/referrers/${d}`)],
        ];
        for (const [what, pending] of attempts) {
          const res = await pending;
          try {
            await expectOciError(res, 400, "DIGEST_INVALID");
          } catch (err) {
            throw new Error(`${what} with ${digest}: ${(err as Error).message}`);
          }
        }
        expect((await fetch(`${url()}/v2/${repo}/blobs/${d}`, { method: "HEAD" })).status).toBe(400);
        await expectOciError(await fetch(`${url()}/v2/${repo}/manifests/${d}`), 404, "MANIFEST_UNKNOWN");
        expect((await fetch(`${url()}/v2/${repo}/manifests/${d}`, { method: "HEAD" })).status).toBe(404);
      }
      expect(await snapshot()).toEqual(before);
    });

    it("unknown, foreign and malformed upload ids are 404 BLOB_UPLOAD_UNKNOWN", async () => {
      const repo = repoName("bad-upload");
      const other = repoName("bad-upload-other");
      const data = randomBytes(100);
      const { location } = await startUpload(url(), repo);
      const uuid = location.pathname.split("/").pop()!;
      const before = await snapshot();
      const ids = ["00000000-0000-4000-8000-000000000000", randomUUID(), "not-a-uuid", "12345", uuid.toUpperCase()];
      const paths = [...ids.map((id) => `/v2/${repo}/blobs/uploads/${id}`), `/v2/${other}/blobs/uploads/${uuid}`];
      for (const path of paths) {
        await expectOciError(await fetch(`${url()}${path}`), 404, "BLOB_UPLOAD_UNKNOWN");
        await expectOciError(await patchChunk(`${url()}${path}`, data, 0), 404, "BLOB_UPLOAD_UNKNOWN");
        await expectOciError(await fetch(`${url()}${path}?digest=${sha256(data)}`, { method: "PUT", body: data }), 404, "BLOB_UPLOAD_UNKNOWN");
        await expectOciError(await fetch(`${url()}${path}`, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
      }
      expect(await snapshot()).toEqual(before);
      // The real session was untouched by all that.
      const status = await uploadStatus(location);
      expect(status.status).toBe(204);
      expect(status.headers.get("range")).toBe("0-0");
    });

    it("PUT closing an upload without ?digest is 400 DIGEST_INVALID", async () => {
      const repo = repoName("no-digest");
      const data = randomBytes(500);
      const { location } = await startUpload(url(), repo);
      expect((await patchChunk(location, data.subarray(0, 200), 0)).status).toBe(202);
      const before = await snapshot();
      await expectOciError(await fetch(location, { method: "PUT", body: data.subarray(200) }), 400, "DIGEST_INVALID");
      await expectOciError(await fetch(location, { method: "PUT" }), 400, "DIGEST_INVALID");
      await expectOciError(await fetch(`${location}?digest=`, { method: "PUT" }), 400, "DIGEST_INVALID");
      expect(await snapshot()).toEqual(before);
      expect((await headBlob(repo, sha256(data))).status).toBe(404);
      expect((await headBlob(repo, sha256(data.subarray(0, 200)))).status).toBe(404);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe("concurrency", () => {
    it("8 concurrent pushes of the same blob to the same repository all succeed", async () => {
      const repo = repoName("concurrent-same");
      const data = randomBytes(512 * 1024);
      const monolithic = await Promise.all(Array.from({ length: 8 }, () => pushBlob(url(), repo, data)));
      for (const { response } of monolithic) {
        expect(response.status).toBe(201);
        expect(response.headers.get("docker-content-digest")).toBe(sha256(data));
      }
      await expectBlob(repo, sha256(data), data);

      const repo2 = repoName("concurrent-chunked");
      const chunked = await Promise.all(Array.from({ length: 8 }, () => pushBlobChunked(url(), repo2, data, { chunkSize: 128 * 1024 })));
      for (const { response } of chunked) expect(response.status).toBe(201);
      await expectBlob(repo2, sha256(data), data);
      await expectBlob(repo, sha256(data), data);
    });

    it("two concurrent PATCHes with the same Content-Range: one wins, the other is refused, nothing is corrupted", async () => {
      const repo = repoName("concurrent-patch");
      const size = 256 * 1024;
      const a = [randomBytes(size / 4), randomBytes(size / 4), randomBytes(size / 4), randomBytes(size / 4)];
      const b = [randomBytes(size / 4), randomBytes(size / 4), randomBytes(size / 4), randomBytes(size / 4)];
      const { location } = await startUpload(url(), repo);
      const send = (pieces: Buffer[]) =>
        fetch(location, {
          method: "PATCH",
          headers: { "Content-Type": "application/octet-stream", "Content-Range": `0-${size - 1}` },
          body: streamOf(pieces, 20), // slow enough for the two requests to overlap on the server
          duplex: "half",
        } as RequestInit);
      const [ra, rb] = await Promise.all([send(a), send(b)]);
      const statuses = [ra.status, rb.status];
      expect(statuses.filter((s) => s === 202)).toHaveLength(1);
      const loser = ra.status === 202 ? rb : ra;
      expect([400, 409, 416]).toContain(loser.status);
      await loser.arrayBuffer();
      const winner = Buffer.concat(ra.status === 202 ? a : b);

      const status = await uploadStatus(location);
      expect(status.headers.get("range")).toBe(`0-${size - 1}`);
      const done = await finishUpload(location, sha256(winner));
      expect(done.status).toBe(201);
      await expectBlob(repo, sha256(winner), winner);
    });

    it("two concurrent streamed PATCHes without Content-Range are applied one after the other", async () => {
      const repo = repoName("concurrent-stream");
      const pieces = [randomBytes(40_000), randomBytes(40_000), randomBytes(40_000)];
      const one = Buffer.concat(pieces);
      const { location } = await startUpload(url(), repo);
      // Both send the same bytes, so either order gives the same content, but an interleaving would not.
      const [ra, rb] = await Promise.all([patchStream(location, streamOf(pieces, 20)), patchStream(location, streamOf(pieces, 20))]);
      const accepted = [ra, rb].filter((r) => r.status === 202).length;
      expect(accepted).toBeGreaterThanOrEqual(1);
      for (const r of [ra, rb]) if (r.status !== 202) expect([400, 409, 416]).toContain(r.status);
      const expected = accepted === 2 ? Buffer.concat([one, one]) : one;
      const status = await uploadStatus(location);
      expect(status.headers.get("range")).toBe(`0-${expected.length - 1}`);
      const done = await finishUpload(location, sha256(expected));
      expect(done.status).toBe(201);
      await expectBlob(repo, sha256(expected), expected);
    });
  });
});
