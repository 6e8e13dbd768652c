// Retention rules (per project, dry-run capable, applied before collection), tag immutability on the
// real HTTP API, and storage usage.
import type { GcRequest } from "../../src/gc/gc-service";
import { ageEverything, image, layer, push, putManifestOk, snapshot, verifyAllTags } from "../support/gc-helpers";
import { expectOciError, pushManifest, putBlob } from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";

const DAY = 86_400_000;

describe("retention rules", () => {
  let registry: TestRegistry;
  const base = () => registry.url;
  const gc = (request: Partial<GcRequest> = {}) => registry.deps.gc.collect({ trigger: "api", ...request });

  beforeEach(async () => {
    registry = await startTestRegistry({
      config: {
        retention: [
          { project: "keep3", keepLatest: 3, keepTags: ["latest", "v\\d+"] },
          { project: "old*", deleteOlderThanDays: 7 },
          { project: "both", keepLatest: 1, deleteOlderThanDays: 7 },
        ],
        immutableTags: [{ project: "keep3", tags: ["release-.*"] }],
      },
    });
  });
  afterEach(() => registry?.stop());

  /** Pushes one image per tag (or the given one) and sets each tag's push time to `ageDays` ago. */
  async function tags(repo: string, spec: Record<string, number>, shared: Record<string, string> = {}): Promise<Record<string, string>> {
    const digests: Record<string, string> = {};
    for (const [tag, ageDays] of Object.entries(spec)) {
      if (shared[tag]) {
        await putManifestOk(base(), repo, { ...imagesByDigest.get(digests[shared[tag]])! }, tag);
        digests[tag] = digests[shared[tag]];
      } else {
        const img = image([layer()]);
        imagesByDigest.set(img.digest, img);
        await push(base(), repo, img, tag);
        digests[tag] = img.digest;
      }
      await registry.deps.database.query(
        `UPDATE tag t SET updated_at = now() - make_interval(secs => $3::float8) FROM repository r
         WHERE r.id = t.repository_id AND r.name = $1 AND t.name = $2`,
        [repo, tag, (ageDays * DAY) / 1000],
      );
    }
    return digests;
  }
  const imagesByDigest = new Map<string, ReturnType<typeof image>>();

  test("keep newest N, keep by pattern, delete older than D days, per project; dry run first", async () => {
    const keep3 = await tags(
      "keep3/app",
      { latest: 0, t1: 1, t2: 2, t3: 3, t4: 4, t5: 5, t6: 6, v1: 10, "release-1": 20 },
      { t3: "t1" }, // t3 names the same image as t1, which stays
    );
    await tags("old/app", { x: 1, y: 10 });
    await tags("olden/app", { w: 30 });
    await tags("both/app", { p: 10, q: 20, r: 1 });
    await tags("none/app", { z: 100 });
    // The manifests were pushed long ago too, so the ones retention untags go in the same run.
    await registry.deps.database.query(`UPDATE manifest SET created_at = now() - interval '2 hours'`);
    await registry.deps.database.query(`UPDATE blob SET last_touched_at = now() - interval '2 hours'`);
    await registry.deps.database.query(`UPDATE repository_blob SET created_at = now() - interval '2 hours'`);

    const expected = ["both/app:p", "both/app:q", "keep3/app:t3", "keep3/app:t4", "keep3/app:t5", "keep3/app:t6", "old/app:y", "olden/app:w"];
    const preview = await registry.deps.gc.previewRetention();
    expect(preview.map((d) => `${d.repository}:${d.tag}`).sort()).toEqual(expected);

    const before = await snapshot(registry.deps);
    const dry = await gc({ dryRun: true });
    expect(await snapshot(registry.deps)).toEqual(before);
    expect(dry.items.tags.map((t) => `${t.repository}:${t.tag}`).sort()).toEqual(expected);
    // t3's image is still tagged t1: 7 manifests would go, not 8.
    expect(dry.totals).toMatchObject({ tags: 8, manifests: 7 });
    expect(dry.repositories.find((r) => r.repository === "keep3/app")).toMatchObject({ tags: 4, manifests: 3 });

    const report = await gc();
    expect(report.totals).toMatchObject({ tags: 8, manifests: 7, blobs: 14 });
    const after = await snapshot(registry.deps);
    expect(before.tags.filter((t) => !after.tags.includes(t))).toEqual(expected);
    expect(after.manifests).toContain(`keep3/app@${keep3.t1}`);
    expect(after.manifests).not.toContain(`keep3/app@${keep3.t4}`);
    expect(await verifyAllTags(registry.deps, base())).toBe(after.tags.length);

    // --no-retention leaves tags alone even when rules would delete some.
    await tags("old/app", { ancient: 50 });
    expect((await gc({ retention: false })).totals.tags).toBe(0);
    expect((await gc()).totals.tags).toBe(1);
  });

  test("a tag re-pushed after the decision is not deleted", async () => {
    await tags("old/app", { y: 10 });
    const [decision] = await registry.deps.gc.previewRetention();
    expect(decision).toMatchObject({ repository: "old/app", tag: "y" });
    // Re-pushed (moved to a new image) between planning and deleting: the compare-and-delete misses it.
    const { applyRetention } = await import("../../src/gc/retention");
    await push(base(), "old/app", image([layer()]), "y");
    const done = await applyRetention(registry.deps.stores.gc, [decision], 10);
    expect(done).toEqual([]);
    expect((await snapshot(registry.deps)).tags).toEqual(["old/app:y"]);
  });
});

describe("immutable tags", () => {
  let registry: TestRegistry;
  const base = () => registry.url;

  beforeAll(async () => {
    registry = await startTestRegistry({ config: { immutableTags: [{ project: "rel", tags: ["v\\d+\\.\\d+\\.\\d+"] }] } });
  });
  afterAll(() => registry?.stop());

  test("an immutable tag cannot be overwritten or deleted: 403 DENIED saying why; re-pushing the same image is fine", async () => {
    const a = image([layer()]);
    const b = image([layer()]);
    await push(base(), "rel/app", a, "v1.0.0");
    for (const blob of [b.config, ...b.layers]) await putBlob(base(), "rel/app", blob.data);

    const overwrite = await pushManifest(base(), "rel/app", "v1.0.0", b.bytes, b.mediaType);
    const body = await expectOciError(overwrite, 403, "DENIED");
    expect(body.errors[0].message).toMatch(/tag v1\.0\.0 is immutable .*cannot be overwritten/);
    expect(body.errors[0].detail).toMatchObject({ tag: "v1.0.0", reason: "immutable tag", digest: a.digest });
    // Same bytes again (a client retrying a push): accepted, nothing moves.
    expect((await pushManifest(base(), "rel/app", "v1.0.0", a.bytes, a.mediaType)).status).toBe(201);

    const delTag = await fetch(`${base()}/v2/rel/app/manifests/v1.0.0`, { method: "DELETE" });
    expect((await expectOciError(delTag, 403, "DENIED")).errors[0].message).toMatch(/cannot be deleted/);
    // Deleting the manifest by digest would delete the tag with it.
    const delManifest = await fetch(`${base()}/v2/rel/app/manifests/${a.digest}`, { method: "DELETE" });
    await expectOciError(delManifest, 403, "DENIED");
    const get = await fetch(`${base()}/v2/rel/app/manifests/v1.0.0`);
    expect(get.headers.get("docker-content-digest")).toBe(a.digest);
    // Unknown immutable tag: plain 404.
    await expectOciError(await fetch(`${base()}/v2/rel/app/manifests/v9.9.9`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");

    // Tags not matching, and other projects, stay mutable.
    await putManifestOk(base(), "rel/app", a, "latest");
    await putManifestOk(base(), "rel/app", b, "latest");
    expect((await fetch(`${base()}/v2/rel/app/manifests/latest`, { method: "DELETE" })).status).toBe(202);
    await push(base(), "dev/app", a, "v1.0.0");
    await push(base(), "dev/app", b, "v1.0.0");
    expect((await fetch(`${base()}/v2/dev/app/manifests/v1.0.0`, { method: "DELETE" })).status).toBe(202);
    // A manifest whose only tags are mutable can still be deleted by digest.
    expect((await fetch(`${base()}/v2/rel/app/manifests/${b.digest}`, { method: "DELETE" })).status).toBe(202);
  });

  test("pushes racing to create the same immutable tag: exactly one wins", async () => {
    const images = Array.from({ length: 6 }, () => image([layer()]));
    for (const img of images) for (const blob of [img.config, ...img.layers]) await putBlob(base(), "rel/race", blob.data);
    const results = await Promise.all(images.map((img) => pushManifest(base(), "rel/race", "v2.0.0", img.bytes, img.mediaType)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 403)).toHaveLength(5);
    const winner = images[statuses.indexOf(201)];
    const get = await fetch(`${base()}/v2/rel/race/manifests/v2.0.0`);
    expect(get.headers.get("docker-content-digest")).toBe(winner.digest);
  });

  test("retention never deletes an immutable tag, and collection keeps what it names", async () => {
    const r = await startTestRegistry({
      config: { retention: [{ project: "*", keepLatest: 0 }], immutableTags: [{ project: "rel", tags: ["v.*"] }] },
    });
    try {
      const a = image([layer()]);
      await push(r.url, "rel/app", a, "v1");
      await push(r.url, "rel/app", image([layer()]), "nightly");
      await ageEverything(r.deps, 2 * DAY);
      const report = await r.deps.gc.collect({ trigger: "api" });
      expect(report.items.tags.map((t) => t.tag)).toEqual(["nightly"]);
      expect(report.totals.manifests).toBe(1);
      expect((await snapshot(r.deps)).tags).toEqual(["rel/app:v1"]);
      expect(await verifyAllTags(r.deps, r.url)).toBe(1);
    } finally {
      await r.stop();
    }
  });
});

describe("storage usage", () => {
  test("bytes per repository and project, and a total counting shared layers once", async () => {
    const registry = await startTestRegistry({ database: "embedded" });
    try {
      const base = registry.url;
      const shared = layer(1000);
      const a = image([shared, layer(300)]);
      const b = image([shared, layer(500)]);
      await push(base, "team/a", a, "1");
      await push(base, "team/b", b, "1");
      await push(base, "solo", image([layer(50)]), "1");
      await putBlob(base, "team/b", layer(7).data); // linked, unreferenced: counts until collected

      const usage = await registry.deps.gc.usage();
      const size = (blobs: Array<{ descriptor: { size: number } }>) => blobs.reduce((n, x) => n + x.descriptor.size, 0);
      const repoA = usage.repositories.find((r) => r.repository === "team/a")!;
      const repoB = usage.repositories.find((r) => r.repository === "team/b")!;
      expect(repoA).toMatchObject({ project: "team", blobs: 3, blobBytes: size([shared, ...a.layers.slice(1), a.config]), manifests: 1, tags: 1 });
      expect(repoA.exclusiveBytes).toBe(repoA.blobBytes - 1000);
      expect(repoB).toMatchObject({ blobs: 4, blobBytes: size([shared, ...b.layers.slice(1), b.config]) + 7 });
      expect(repoA.manifestBytes).toBe(a.bytes.length);
      const team = usage.projects.find((p) => p.project === "team")!;
      expect(team).toMatchObject({ repositories: 2, blobs: 6, blobBytes: repoA.blobBytes + repoB.blobBytes - 1000 });
      const all = usage.repositories.reduce((n, r) => n + r.blobBytes, 0);
      expect(usage.total).toMatchObject({ repositories: 3, blobs: 8, undedupedBlobBytes: all, blobBytes: all - 1000, storedBlobs: 8 });
      expect(usage.total.storedBlobBytes).toBe(usage.total.blobBytes);
      expect(usage.repositories[0].repository).toBe("team/b"); // largest first
    } finally {
      await registry.stop();
    }
  });
});
