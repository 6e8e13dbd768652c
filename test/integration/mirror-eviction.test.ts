// Mirror cache size limit: over mirror.cacheMaxBytes, collections evict the least recently pulled mirrored
// images (never local content, never what was pulled within the grace period), the sweep deletes their
// blobs from storage, and an evicted image is simply fetched from the upstream again. Against the CNCF
// registry as the upstream, behind a proxy that counts requests.
import { startCncfRegistry, type CncfRegistry } from "../e2e/support/cncf-registry";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy";
import { ageEverything, expectIntegrity, image, index, layer, pullAndVerify, push, snapshot, type Image } from "../support/gc-helpers";
import { pushImageTwoStep, pushManifest, uniqueSuffix } from "../support/oci-client";
import { startTestRegistry, type DatabaseKind, type TestRegistry } from "../support/registry";
import { waitFor } from "../support/wait-for";
import { formatReport, type GcReport } from "../../src/gc/report";
import type { Deps } from "../../src/deps";

const LAYER = 100_000;
const HOUR = 3_600_000;

/** Waits for a finished collection the cache limit started (after `afterId`) and returns its report. */
async function cacheLimitRun(deps: Deps, afterId = 0): Promise<GcReport> {
  return waitFor("a collection started by the cache limit", async () =>
    (await deps.gc.listRuns(10)).find((r) => r.trigger === "cache-limit" && r.id > afterId && r.status !== "running")?.report,
  );
}

/** Pushes an image to the upstream under `tag` (the CNCF registry takes no single-POST uploads). */
async function pushUpstream(base: string, repo: string, tag: string, img: Image): Promise<void> {
  const res = await pushImageTwoStep(base, repo, img, tag);
  if (res.status !== 201) throw new Error(`upstream push ${repo}:${tag}: ${res.status}`);
}

/** The config and layer digests of images. */
function blobsOf(...images: Image[]): string[] {
  return images.flatMap((i) => [i.config, ...i.layers].map((b) => b.descriptor.digest));
}

describe("mirror cache eviction", () => {
  let upstream: CncfRegistry;
  let proxy: FaultProxy;
  const up = () => `http://${upstream.host}`;

  beforeAll(async () => {
    upstream = await startCncfRegistry();
    proxy = await startFaultProxy(up());
  });
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.stop();
  });

  const mirrorConfig = (extra: Record<string, unknown>, gc: Record<string, unknown>) => ({
    mirror: {
      upstreams: [{ name: "hub", url: proxy.url, prefix: "", registry: "docker.io", tagTtlSeconds: 3600, timeoutSeconds: 10 }],
      cacheMaxBytes: 350_000,
      cacheLowWatermark: 0.6,
      ...extra,
    },
    gc,
  });

  describe("by collections, least recently pulled first", () => {
    let mirror: TestRegistry;
    const s = uniqueSuffix();
    const repoA = `library/evict-a-${s}`;
    const repoB = `library/evict-b-${s}`;
    const shared = layer(80_000);
    const local = image([shared, layer(50_000)]);
    // Four images of about 100 kB each; the first also has a layer a local image shares.
    const i1 = image([shared, layer(LAYER)]);
    const c1 = image([layer(LAYER / 2)]);
    const c2 = image([layer(LAYER / 2)]);
    const i2 = index([c1, c2]);
    const i3 = image([layer(LAYER)]);
    const i4 = image([layer(LAYER)]);

    beforeAll(async () => {
      mirror = await startTestRegistry({ config: mirrorConfig({ evictionInterval: "1h" }, { grace: "1h" }) });
      await mirror.deps.auth.accounts.addProject("mine");
      await push(mirror.url, "mine/app", local, "v1");
      await pushUpstream(up(), repoA, "1", i1);
      for (const child of [c1, c2]) await pushImageTwoStep(up(), repoA, child);
      expect((await pushManifest(up(), repoA, "2", i2.bytes, i2.mediaType)).status).toBe(201);
      await pushUpstream(up(), repoB, "3", i3);
      await pushUpstream(up(), repoB, "4", i4);
    });
    afterAll(() => mirror?.stop());

    test("over the limit, a collection starts by itself; it evicts nothing pulled within the grace period", async () => {
      for (const [repo, tag] of [[repoA, "1"], [repoA, "2"], [repoB, "3"], [repoB, "4"]]) await pullAndVerify(mirror.url, repo, tag);
      const report = await cacheLimitRun(mirror.deps);
      expect(report.mirrorCache).toMatchObject({ limitBytes: 350_000, targetBytes: 210_000 });
      // The local image's layer is shared: not part of the cache.
      expect(report.mirrorCache!.bytesBefore).toBeGreaterThan(4 * LAYER);
      expect(report.mirrorCache!.bytesBefore).toBeLessThan(4 * LAYER + 2_000);
      expect(report.totals).toMatchObject({ evictedImages: 0, manifests: 0, blobs: 0 });
      expect(await mirror.deps.gc.mirrorCacheBytes()).toBe(report.mirrorCache!.bytesBefore);
    });

    test("dry run reports the least recently pulled images and deletes nothing; the run evicts them from metadata and storage", async () => {
      await mirror.deps.audit.flush();
      await ageEverything(mirror.deps, 2 * HOUR);
      // Pulled again just now: the oldest fetch, but the most recent use.
      await pullAndVerify(mirror.url, repoA, "1");
      await mirror.deps.audit.flush();

      const before = await snapshot(mirror.deps);
      const dry = await mirror.deps.gc.collect({ trigger: "api", dryRun: true });
      expect(dry.items.evicted.map((e) => [e.repository, e.digest, e.tags])).toEqual([
        [repoA, i2.digest, ["2"]],
        [repoB, i3.digest, ["3"]],
      ]);
      expect(dry.totals).toMatchObject({ evictedImages: 2, tags: 2, manifests: 4, blobs: 6 });
      expect(dry.totals.evictedBytes).toBeGreaterThan(2 * LAYER);
      expect(formatReport(dry)).toMatch(/mirror cache: .* of 341\.8 KiB; would evict 2 least recently pulled images/);
      expect(formatReport(dry)).toContain(`${repoB}@${i3.digest} 3 (last pulled`);
      expect(await snapshot(mirror.deps)).toEqual(before);

      const report = await mirror.deps.gc.collect({ trigger: "api" });
      expect(report.status).toBe("succeeded");
      expect(report.totals).toMatchObject({ evictedImages: 2, tags: 2, manifests: 4, blobs: 6 });
      // The run's log lists what eviction deleted, as it does the sweep's deletions.
      const log = (await mirror.deps.gc.logPage(report.runId, 0, 1000)).entries;
      expect(log.filter((e) => e.kind === "tag")).toHaveLength(2);
      expect(log.filter((e) => e.kind === "manifest").map((e) => e.digest).sort()).toEqual([i2, c1, c2, i3].map((x) => x.digest).sort());
      expect(log.filter((e) => e.kind === "blob")).toHaveLength(6);
      const gone = blobsOf(c1, c2, i3);
      const kept = blobsOf(local, i1, i4);
      const after = await snapshot(mirror.deps);
      expect(after.manifests).toEqual(before.manifests.filter((m) => ![i2, c1, c2, i3].some((x) => m.endsWith(`@${x.digest}`))));
      expect(after.tags.sort()).toEqual([`${repoA}:1`, `${repoB}:4`, "mine/app:v1"].sort());
      expect(after.blobs).toEqual(before.blobs.filter((d) => !gone.includes(d)));
      expect(after.files.filter((f) => gone.includes(f))).toEqual([]);
      expect(after.files).toEqual(expect.arrayContaining(kept));
      const mirrorTags = await mirror.deps.database.query<{ tag: string }>(`SELECT tag FROM mirror_tag ORDER BY tag`);
      expect(mirrorTags.map((t) => t.tag)).toEqual(["1", "4"]);
      await expectIntegrity(mirror.deps);

      const [run] = await mirror.deps.gc.listRuns(1);
      expect(run).toMatchObject({ id: report.runId, imagesEvicted: 2, manifestsDeleted: 4, tagsDeleted: 2 });
      expect(mirror.deps.mirror!.stats.snapshot()).toMatchObject({ evictedImages: 2, evictedBytes: report.totals.evictedBytes });
      const metrics = await (await fetch(`${mirror.url}/metrics`)).text();
      expect(metrics).toMatch(/^berth_mirror_cache_evicted_images_total 2$/m);
      expect(await mirror.deps.gc.mirrorCacheBytes()).toBeLessThanOrEqual(210_000);

      // Local content and what was pulled recently still pull completely.
      await pullAndVerify(mirror.url, "mine/app", "v1");
      await pullAndVerify(mirror.url, repoA, "1");
      await pullAndVerify(mirror.url, repoB, "4");
    });

    test("an evicted image is fetched from the upstream again", async () => {
      const from = proxy.requests.length;
      await pullAndVerify(mirror.url, repoA, "2");
      await pullAndVerify(mirror.url, repoB, "3");
      const asked = proxy.requests.slice(from);
      expect(asked).toEqual(expect.arrayContaining([`GET /v2/${repoA}/manifests/2`, `GET /v2/${repoB}/manifests/3`]));
      for (const d of blobsOf(c1, c2, i3)) expect(asked.some((r) => r.startsWith("GET ") && r.endsWith(`/blobs/${d}`))).toBe(true);
      await mirror.deps.mirror!.idle(); // the clients had their bytes once verified; storing them may lag a moment
      await expectIntegrity(mirror.deps);
    });
  });

  test.each<DatabaseKind>(["postgres", "embedded"])("a fetch that takes the cache over its limit evicts the least recently pulled images by itself (%s)", async (database) => {
    const mirror = await startTestRegistry({ database, config: mirrorConfig({ evictionInterval: "1s" }, { grace: "0" }) });
    try {
      const repo = `library/auto-${uniqueSuffix()}`;
      const images = [1, 2, 3, 4].map(() => image([layer(LAYER)]));
      for (const [n, img] of images.entries()) await pushUpstream(up(), repo, `v${n + 1}`, img);
      for (const tag of ["v1", "v2", "v3"]) await pullAndVerify(mirror.url, repo, tag);
      await mirror.deps.audit.flush();
      await new Promise((resolve) => setTimeout(resolve, 50)); // the touch below is a later pull than those
      await pullAndVerify(mirror.url, repo, "v1");
      await mirror.deps.audit.flush();
      const lastRun = (await mirror.deps.gc.listRuns(1))[0]?.id ?? 0;
      await pullAndVerify(mirror.url, repo, "v4");

      const report = await cacheLimitRun(mirror.deps, lastRun);
      expect(report.items.evicted.map((e) => e.tags)).toEqual([["v2"], ["v3"]]);
      const after = await snapshot(mirror.deps);
      expect(after.tags).toEqual([`${repo}:v1`, `${repo}:v4`]);
      const gone = blobsOf(images[1], images[2]);
      expect(after.blobs.filter((d) => gone.includes(d))).toEqual([]);
      expect(after.files.filter((f) => gone.includes(f))).toEqual([]);
      expect(after.files).toEqual(expect.arrayContaining(blobsOf(images[0], images[3])));

      const from = proxy.requests.length;
      await pullAndVerify(mirror.url, repo, "v2");
      expect(proxy.requests.slice(from)).toContain(`GET /v2/${repo}/manifests/v2`);
    } finally {
      await mirror.stop();
    }
  });
});
