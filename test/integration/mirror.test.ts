// Pull-through mirror mode against a real upstream: the CNCF registry (docker-registry) on loopback, seen
// through a pass-through proxy that counts requests and can inject 429/503.
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startCncfRegistry, type CncfRegistry } from "../e2e/support/cncf-registry";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { TestClock } from "../support/test-clock";
import {
  bodyBytes,
  buildImage,
  buildIndex,
  expectOciError,
  getManifest,
  MediaTypes,
  pushImage as pushToBerth,
  pushImageTwoStep,
  pushManifest,
  randomBytes,
  sha256,
  uniqueSuffix,
} from "../support/oci-client";

const ACCEPT = [MediaTypes.OCI_MANIFEST, MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST].join(", ");

const pushImage = pushImageTwoStep;

/** The hub upstream's tag TTL: long, so no pull on a loaded machine outlives it; tests move the clock past it. */
const TAG_TTL_SECONDS = 300;
const PAST_TTL_MS = (TAG_TTL_SECONDS + 1) * 1000;

function count(proxy: FaultProxy, pattern: RegExp): number {
  return proxy.requests.filter((r) => pattern.test(r)).length;
}

describe("pull-through mirror", () => {
  let upstream: CncfRegistry;
  let proxy: FaultProxy;
  let mirror: TestRegistry;
  const clock = new TestClock();
  const up = () => `http://${upstream.host}`;

  beforeAll(async () => {
    upstream = await startCncfRegistry();
    proxy = await startFaultProxy(up());
    mirror = await startTestRegistry({
      config: {
        mirror: {
          upstreams: [
            { name: "hub", url: proxy.url, prefix: "", registry: "docker.io", tagTtlSeconds: TAG_TTL_SECONDS, maxStalenessSeconds: 3600, timeoutSeconds: 5 },
            { name: "other", url: proxy.url, prefix: "other.io", tagTtlSeconds: 60 },
          ],
        },
      },
      clock,
    });
  });
  afterAll(async () => {
    await mirror?.stop();
    await proxy?.stop();
    await upstream?.stop();
  });
  beforeEach(() => {
    proxy.mode = "pass";
    clock.reset();
  });

  it("serves a cold pull from upstream byte-for-byte, then a warm pull without asking it again", async () => {
    const repo = `library/cold-${uniqueSuffix()}`;
    const image = buildImage({ format: "docker", layers: 3, layerSize: 200_000 });
    expect((await pushImage(up(), repo, image, "1.0")).status).toBe(201);

    const before = proxy.requests.length;
    const cold = await getManifest(mirror.url, repo, "1.0", ACCEPT);
    expect(cold.status).toBe(200);
    expect(cold.headers.get("docker-content-digest")).toBe(image.digest);
    expect(await bodyBytes(cold)).toEqual(image.bytes);
    for (const blob of [image.config, ...image.layers]) {
      const res = await fetch(`${mirror.url}/v2/${repo}/blobs/${blob.descriptor.digest}`);
      expect(res.status).toBe(200);
      expect(sha256(await bodyBytes(res))).toBe(blob.descriptor.digest);
    }
    const coldRequests = proxy.requests.slice(before);
    expect(coldRequests.filter((r) => r.includes("/blobs/"))).toHaveLength(4);

    // Warm: by digest and the blobs never go upstream; the tag is fresh so it does not either.
    const warmStart = proxy.requests.length;
    expect((await getManifest(mirror.url, repo, "1.0", ACCEPT)).status).toBe(200);
    expect((await getManifest(mirror.url, repo, image.digest, ACCEPT)).status).toBe(200);
    for (const blob of [image.config, ...image.layers]) {
      expect(sha256(await bodyBytes(await fetch(`${mirror.url}/v2/${repo}/blobs/${blob.descriptor.digest}`)))).toBe(blob.descriptor.digest);
    }
    expect(proxy.requests.slice(warmStart)).toEqual([]);

    // After the TTL, one HEAD revalidates the tag (no GET, no blob traffic).
    clock.advance(PAST_TTL_MS);
    const revalidate = proxy.requests.length;
    expect((await getManifest(mirror.url, repo, "1.0", ACCEPT)).headers.get("docker-content-digest")).toBe(image.digest);
    expect(proxy.requests.slice(revalidate)).toEqual([`HEAD /v2/${repo}/manifests/1.0`]);
  });

  it("follows a tag that moved upstream once its TTL has passed", async () => {
    const repo = `library/moving-${uniqueSuffix()}`;
    const first = buildImage();
    const second = buildImage();
    await pushImage(up(), repo, first, "latest");
    expect((await getManifest(mirror.url, repo, "latest", ACCEPT)).headers.get("docker-content-digest")).toBe(first.digest);
    await pushImage(up(), repo, second, "latest");
    // Still fresh: the cached digest.
    expect((await getManifest(mirror.url, repo, "latest", ACCEPT)).headers.get("docker-content-digest")).toBe(first.digest);
    clock.advance(PAST_TTL_MS);
    const moved = await getManifest(mirror.url, repo, "latest", ACCEPT);
    expect(moved.headers.get("docker-content-digest")).toBe(second.digest);
    expect(await bodyBytes(moved)).toEqual(second.bytes);
  });

  it("caches an index byte-for-byte and fetches children by digest", async () => {
    const repo = `library/multi-${uniqueSuffix()}`;
    const amd = buildImage();
    const arm = buildImage();
    await pushImage(up(), repo, amd);
    await pushImage(up(), repo, arm);
    const index = buildIndex([amd, arm]);
    expect((await pushManifest(up(), repo, "v1", index.bytes, index.mediaType)).status).toBe(201);
    const res = await getManifest(mirror.url, repo, "v1", ACCEPT);
    expect(res.headers.get("content-type")).toBe(MediaTypes.OCI_INDEX);
    expect(await bodyBytes(res)).toEqual(index.bytes);
    const child = await getManifest(mirror.url, repo, arm.digest, ACCEPT);
    expect(await bodyBytes(child)).toEqual(arm.bytes);
  });

  it("fetches a cold blob from upstream exactly once for 20 concurrent clients, all receiving identical bytes", async () => {
    const repo = `library/crowd-${uniqueSuffix()}`;
    const image = buildImage({ layers: 1, layerSize: 8 * 1024 * 1024 });
    await pushImage(up(), repo, image, "v1");
    const layer = image.layers[0].descriptor.digest;
    const before = count(proxy, new RegExp(`GET /v2/${repo}/blobs/${layer}`));
    const bodies = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await fetch(`${mirror.url}/v2/${repo}/blobs/${layer}`);
        expect(res.status).toBe(200);
        return sha256(await bodyBytes(res));
      }),
    );
    expect(new Set(bodies)).toEqual(new Set([layer]));
    expect(count(proxy, new RegExp(`GET /v2/${repo}/blobs/${layer}`)) - before).toBe(1);
  });

  it("answers Range requests on a cold blob without a second upstream download", async () => {
    const repo = `library/range-${uniqueSuffix()}`;
    const image = buildImage({ layers: 1, layerSize: 3 * 1024 * 1024 });
    await pushImage(up(), repo, image, "v1");
    const layer = image.layers[0];
    const ranged = await Promise.all([
      fetch(`${mirror.url}/v2/${repo}/blobs/${layer.descriptor.digest}`, { headers: { range: "bytes=1000-1999" } }),
      fetch(`${mirror.url}/v2/${repo}/blobs/${layer.descriptor.digest}`, { headers: { range: "bytes=-500" } }),
    ]);
    expect(ranged.map((r) => r.status)).toEqual([206, 206]);
    expect(await bodyBytes(ranged[0])).toEqual(layer.data.subarray(1000, 2000));
    expect(await bodyBytes(ranged[1])).toEqual(layer.data.subarray(layer.data.length - 500));
    expect(count(proxy, new RegExp(`GET /v2/${repo}/blobs/`))).toBe(1);
  });

  it("serves cached tags while the upstream answers 429 or 503, and says so clearly when nothing is cached", async () => {
    const repo = `library/flaky-${uniqueSuffix()}`;
    const image = buildImage();
    await pushImage(up(), repo, image, "v1");
    expect((await getManifest(mirror.url, repo, "v1", ACCEPT)).status).toBe(200);
    clock.advance(PAST_TTL_MS);
    for (const mode of [429, 503] as const) {
      proxy.mode = mode;
      const stale = await getManifest(mirror.url, repo, "v1", ACCEPT);
      expect(stale.status).toBe(200);
      expect(stale.headers.get("docker-content-digest")).toBe(image.digest);
      await expectOciError(await getManifest(mirror.url, `library/never-${uniqueSuffix()}`, "v1", ACCEPT), 503, "UNAVAILABLE");
    }
  });

  it("reports a manifest or blob the upstream does not have as unknown", async () => {
    await expectOciError(await getManifest(mirror.url, `library/absent-${uniqueSuffix()}`, "v1", ACCEPT), 404, "MANIFEST_UNKNOWN");
    await expectOciError(await fetch(`${mirror.url}/v2/library/absent/blobs/${sha256(randomBytes(10))}`), 404, "BLOB_UNKNOWN");
  });

  it("never caches a blob whose upstream bytes do not match its digest", async () => {
    const repo = `library/corrupt-${uniqueSuffix()}`;
    const image = buildImage({ layers: 1, layerSize: 100_000 });
    await pushImage(up(), repo, image, "v1");
    const digest = image.layers[0].descriptor.digest;
    const hex = digest.slice("sha256:".length);
    const file = path.join(upstream.dir, "data/docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    await writeFile(file, randomBytes(100_000));
    const res = await fetch(`${mirror.url}/v2/${repo}/blobs/${digest}`).catch((err: Error) => err);
    if (!(res instanceof Error)) {
      if (res.ok) {
        // Headers went out before the end of the stream could be verified: the body must then fail.
        await expect(bodyBytes(res)).rejects.toThrow();
      } else {
        // The fetch had already failed verification when the client asked: a plain error, no bytes.
        expect(res.status).toBeGreaterThanOrEqual(400);
      }
    }
    // Not cached: the next request goes to the upstream again (and fails again), storage holds nothing.
    const before = count(proxy, new RegExp(`GET /v2/${repo}/blobs/${digest}`));
    await fetch(`${mirror.url}/v2/${repo}/blobs/${digest}`).then(bodyBytes).catch(() => undefined);
    expect(count(proxy, new RegExp(`GET /v2/${repo}/blobs/${digest}`))).toBe(before + 1);
    const stored = await readdir(path.join(mirror.dataDir, "storage/blobs/sha256", hex.slice(0, 2))).catch(() => []);
    expect(stored).not.toContain(hex);
  });

  it("routes prefixed names to their upstream, refuses pushes there, and maps containerd's ?ns=", async () => {
    const repo = `owner/img-${uniqueSuffix()}`;
    const image = buildImage();
    await pushImage(up(), repo, image, "v1");
    const res = await getManifest(mirror.url, `other.io/${repo}`, "v1", ACCEPT);
    expect(res.status).toBe(200);
    expect(await bodyBytes(res)).toEqual(image.bytes);
    await expectOciError(await pushManifest(mirror.url, `other.io/${repo}`, "v2", image.bytes, image.mediaType), 403, "DENIED");
    // containerd: GET /v2/<name>/manifests/<ref>?ns=docker.io goes to the docker.io upstream.
    const hubRepo = `library/ns-${uniqueSuffix()}`;
    await pushImage(up(), hubRepo, image, "v1");
    const viaNs = await fetch(`${mirror.url}/v2/${hubRepo}/manifests/v1?ns=docker.io`, { headers: { accept: ACCEPT } });
    expect(viaNs.status).toBe(200);
  });

  it("keeps local pushes working next to mirrored names, and never asks the upstream about a local project", async () => {
    await mirror.deps.auth.accounts.addProject("mine");
    const image = buildImage();
    expect((await pushToBerth(mirror.url, "mine/app", image, "v1")).status).toBe(201);
    expect(await bodyBytes(await getManifest(mirror.url, "mine/app", "v1", ACCEPT))).toEqual(image.bytes);
    const before = proxy.requests.length;
    await expectOciError(await getManifest(mirror.url, "mine/unknown", "v1", ACCEPT), 404, "MANIFEST_UNKNOWN");
    expect(proxy.requests.slice(before)).toEqual([]);
  });
});

describe("pull-through mirror with the upstream gone", () => {
  it("keeps serving what it cached, past the TTL, after the upstream is stopped", async () => {
    const upstream = await startCncfRegistry();
    const mirror = await startTestRegistry({
      config: { mirror: { upstreams: [{ name: "hub", url: `http://${upstream.host}`, prefix: "", tagTtlSeconds: 0, timeoutSeconds: 2 }] } },
    });
    try {
      const image = buildImage({ layers: 2 });
      await pushImage(`http://${upstream.host}`, "library/gone", image, "v1");
      expect((await getManifest(mirror.url, "library/gone", "v1", ACCEPT)).status).toBe(200);
      for (const l of image.layers) await bodyBytes(await fetch(`${mirror.url}/v2/library/gone/blobs/${l.descriptor.digest}`));
      await upstream.stop();
      const res = await getManifest(mirror.url, "library/gone", "v1", ACCEPT);
      expect(res.status).toBe(200);
      expect(await bodyBytes(res)).toEqual(image.bytes);
      for (const l of image.layers) {
        expect(sha256(await bodyBytes(await fetch(`${mirror.url}/v2/library/gone/blobs/${l.descriptor.digest}`)))).toBe(l.descriptor.digest);
      }
      await expectOciError(await getManifest(mirror.url, "library/other", "v1", ACCEPT), 503, "UNAVAILABLE");
    } finally {
      await mirror.stop();
      await upstream.stop().catch(() => undefined);
    }
  });

  it("refuses a mirror loop instead of recursing", async () => {
    const { createServer } = await import("node:net");
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as import("node:net").AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const mirror = await startTestRegistry({
      config: { listen: `127.0.0.1:${port}`, mirror: { upstreams: [{ name: "self", url: `http://127.0.0.1:${port}`, prefix: "", timeoutSeconds: 5 }] } },
    });
    try {
      const res = await getManifest(mirror.url, "library/loop", "v1", ACCEPT);
      expect(res.status).toBe(503);
    } finally {
      await mirror.stop();
    }
  });
});
