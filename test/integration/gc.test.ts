// Garbage collection against the real server on both backends: what is garbage goes, everything
// reachable stays and still pulls, dry runs delete nothing, the grace period and touches are honoured,
// and a second run finds nothing. Retention, immutable tags, usage and run records are in gc-policy.test.ts.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { GcBusyError, type GcRequest } from "../../src/gc/gc-service";
import { GC_LOCK_KEY } from "../../src/metadata/gc-lock";
import { SqlMirrorStore } from "../../src/metadata/mirror-store";
import type { Digest } from "../../src/kernel/digest";
import {
  ageEverything,
  expectReachableBlobsStored,
  image,
  index,
  layer,
  pullAndVerify,
  push,
  putManifestOk,
  referrer,
  snapshot,
  verifyAllTags,
} from "../support/gc-helpers";
import { patchChunk, putBlob, sha256, startUpload } from "../support/oci-client";
import { startTestRegistry, type DatabaseKind, type TestRegistry } from "../support/registry";
import { waitFor } from "../support/wait-for";
import pg from "pg";

const MINUTE = 60_000;

/** An onProgress callback, and a promise that resolves after the run's first committed batch. */
function progressed(): { onProgress(): void; first: Promise<void> } {
  let onProgress!: () => void;
  const first = new Promise<void>((resolve) => (onProgress = resolve));
  return { onProgress, first };
}
const HOUR = 60 * MINUTE;

describe.each<DatabaseKind>(["postgres", "embedded"])("garbage collection (%s)", (database) => {
  let registry: TestRegistry;
  const base = () => registry.url;
  const gc = (request: Partial<GcRequest> = {}) => registry.deps.gc.collect({ trigger: "api", ...request });

  beforeEach(async () => {
    registry = await startTestRegistry({ database });
  });
  afterEach(() => registry?.stop());

  test("keeps the upload a live mirror fetch is sharing, however old its files, and sweeps it once the lease lapses", async () => {
    // What a replica downloading a blob for the mirror writes: an upload folder with no session row.
    const id = randomUUID();
    const uploads = path.join(registry.deps.config.storage.root!, "uploads");
    await mkdir(path.join(uploads, id), { recursive: true });
    await writeFile(path.join(uploads, id, "data"), Buffer.alloc(10));
    const twoDaysAgo = new Date(Date.now() - 48 * HOUR);
    await utimes(path.join(uploads, id, "data"), twoDaysAgo, twoDaysAgo);
    const digest = sha256(Buffer.from(id)) as Digest;
    expect(await new SqlMirrorStore(registry.deps.database).acquireFetch(digest, "another-replica", id)).toBe(true);

    expect((await gc()).totals).toMatchObject({ orphanUploadDirs: 0 });
    expect(await readdir(uploads)).toContain(id);

    await registry.deps.database.prisma.$executeRaw`UPDATE mirror_fetch SET expires_at = now() - interval '1 second' WHERE digest = ${digest}`;
    expect((await gc()).totals).toMatchObject({ orphanUploadDirs: 1 });
    expect(await readdir(uploads)).not.toContain(id);
  });

  test("collects every kind of garbage and keeps everything reachable (tags, index children, layers, subjects, referrers)", async () => {
    const app = "gc/app";
    const other = "gc/other";
    const shared = layer();
    const imgA = image([shared, layer()]);
    await push(base(), app, imgA, "a");
    // A moved tag leaves imgB dangling; it shares a layer with imgA, which must stay.
    const lb = layer();
    const imgB = image([shared, lb]);
    await push(base(), app, imgB, "b");
    const imgC = image([layer()]);
    await push(base(), app, imgC, "b");
    // A tagged index keeps its children; an untagged one goes with them.
    const c1 = image([layer()]);
    const c2 = image([layer()]);
    await push(base(), app, c1);
    await push(base(), app, c2);
    await putManifestOk(base(), app, index([c1, c2]), "multi");
    const j1 = image([layer()]);
    const j2 = image([layer()]);
    await push(base(), app, j1);
    await push(base(), app, j2);
    const dangingIndex = index([j1, j2]);
    await putManifestOk(base(), app, dangingIndex);
    // Referrers: of a kept image (kept, and its own referrer too), of a dangling one (goes with it), and a
    // tagged referrer that keeps its untagged subject.
    const sigA = referrer(imgA);
    await push(base(), app, sigA);
    const sigSigA = referrer(sigA);
    await push(base(), app, sigSigA);
    const sigB = referrer(imgB);
    await push(base(), app, sigB);
    const subjectD = image([layer()]);
    await push(base(), app, subjectD);
    await push(base(), app, referrer(subjectD), "sig-d");
    // A blob nobody references.
    const lone = layer();
    await putBlob(base(), app, lone.data);
    // Another repository: mounts the shared layer; an image deleted through the API leaves its blobs.
    const mount = await fetch(`${base()}/v2/${other}/blobs/uploads/?mount=${shared.descriptor.digest}&from=${app}`, { method: "POST" });
    expect(mount.status).toBe(201);
    const imgE = image([shared]);
    await putBlob(base(), other, imgE.config.data);
    await putManifestOk(base(), other, imgE, "e");
    const imgF = image([layer()]);
    await push(base(), other, imgF, "f");
    expect((await fetch(`${base()}/v2/${other}/manifests/${imgF.digest}`, { method: "DELETE" })).status).toBe(202);
    // An idle upload session with data, and an upload folder whose session row is gone.
    const { location } = await startUpload(base(), app);
    expect((await patchChunk(location, Buffer.alloc(1000, 1), 0)).status).toBe(202);
    const orphanDir = path.join(registry.deps.config.storage.root!, "uploads", randomUUID());
    await mkdir(orphanDir, { recursive: true });
    await writeFile(path.join(orphanDir, "data"), Buffer.alloc(10));
    const twoDaysAgo = new Date(Date.now() - 48 * HOUR);
    await utimes(path.join(orphanDir, "data"), twoDaysAgo, twoDaysAgo);

    await ageEverything(registry.deps, 25 * HOUR);
    const before = await snapshot(registry.deps);
    const goneManifests = [imgB, sigB, dangingIndex, j1, j2].map((m) => `${app}@${m.digest}`).sort();
    const goneBlobs = [lb, imgB.config, ...sigB.layers, sigB.config, j1.config, ...j1.layers, j2.config, ...j2.layers, lone, imgF.config, ...imgF.layers]
      .map((b) => b.descriptor.digest)
      .sort();

    // Dry run: the plan, and not one change.
    const dry = await gc({ dryRun: true });
    expect(dry.status).toBe("succeeded");
    expect(await snapshot(registry.deps)).toEqual(before);
    expect(dry.totals).toMatchObject({ tags: 0, manifests: 5, links: 11, blobs: 11, uploads: 1, uploadBytes: 1000, orphanUploadDirs: 1 });
    expect(dry.items.manifests.map((m) => `${m.repository}@${m.digest}`).sort()).toEqual(goneManifests);
    expect(dry.items.blobs.map((b) => b.digest).sort()).toEqual(goneBlobs);
    const blobBytes = [lb, imgB.config, ...sigB.layers, sigB.config, j1.config, ...j1.layers, j2.config, ...j2.layers, lone, imgF.config, ...imgF.layers]
      .reduce((n, b) => n + b.descriptor.size, 0);
    expect(dry.totals.blobBytes).toBe(blobBytes);
    expect(dry.totals.bytesFreed).toBe(blobBytes + 1000);
    expect(dry.repositories).toEqual([
      expect.objectContaining({ repository: app, manifests: 5, links: 9, uploads: 1, uploadBytes: 1000 }),
      expect.objectContaining({ repository: other, manifests: 0, links: 2 }),
    ]);

    const report = await gc();
    expect(report.status).toBe("succeeded");
    expect(report.errors).toEqual([]);
    expect(report.totals).toEqual({ ...dry.totals });
    const after = await snapshot(registry.deps);
    expect(before.manifests.filter((m) => !after.manifests.includes(m))).toEqual(goneManifests);
    expect(before.blobs.filter((b) => !after.blobs.includes(b))).toEqual(goneBlobs);
    expect(after.files.filter((f) => goneBlobs.includes(f))).toEqual([]);
    expect(after.files.filter((f) => f.startsWith("uploads/"))).toEqual([]);
    expect(after.uploads).toEqual([]);
    expect(after.tags).toEqual(before.tags);
    await expectReachableBlobsStored(registry.deps);

    // Everything reachable pulls completely, by tag and (untagged but kept) by digest.
    expect(await verifyAllTags(registry.deps, base())).toBe(5); // a, b, multi, sig-d, e
    for (const kept of [sigA, sigSigA, subjectD, c1, c2]) await pullAndVerify(base(), app, kept.digest);
    const referrers = (await (await fetch(`${base()}/v2/${app}/referrers/${imgA.digest}`)).json()) as { manifests: Array<{ digest: string }> };
    expect(referrers.manifests.map((m) => m.digest)).toEqual([sigA.digest]);

    // Nothing left to find.
    const again = await gc();
    expect(again.totals).toMatchObject({ tags: 0, manifests: 0, links: 0, blobs: 0, uploads: 0, orphanUploadDirs: 0, bytesFreed: 0 });
    expect(await snapshot(registry.deps)).toEqual(after);
  });

  test("spares what is younger than the grace period and blobs a pusher has just checked for", async () => {
    const app = "grace/app";
    const orphan = layer();
    await putBlob(base(), app, orphan.data);
    const dangling = image([layer()]);
    await push(base(), app, dangling);
    const lastTouched = async (digest: string) =>
      (await registry.deps.database.query<{ t: Date }>(`SELECT last_touched_at AS t FROM blob WHERE digest = $1`, [digest]))[0]?.t;

    // Fresh: nothing goes with the default grace (1 h).
    expect((await gc()).totals).toMatchObject({ manifests: 0, links: 0, blobs: 0 });
    await ageEverything(registry.deps, 30 * MINUTE);
    expect((await gc()).totals).toMatchObject({ manifests: 0, links: 0, blobs: 0 });

    // A HEAD of a blob touched 30 min ago renews it (older than a quarter of the grace); a second HEAD
    // right after does not write again.
    const touchedBefore = await lastTouched(orphan.descriptor.digest);
    expect((await fetch(`${base()}/v2/${app}/blobs/${orphan.descriptor.digest}`, { method: "HEAD" })).status).toBe(200);
    const renewed = await lastTouched(orphan.descriptor.digest);
    expect(renewed.getTime()).toBeGreaterThan(touchedBefore.getTime());
    expect((await fetch(`${base()}/v2/${app}/blobs/${orphan.descriptor.digest}`, { method: "HEAD" })).status).toBe(200);
    expect((await lastTouched(orphan.descriptor.digest)).getTime()).toBe(renewed.getTime());

    // 40 min later the dangling image (pushed 70 min ago) goes; the HEADed blob (touched 40 min ago) stays.
    await ageEverything(registry.deps, 40 * MINUTE);
    const report = await gc();
    expect(report.items.manifests.map((m) => m.digest)).toEqual([dangling.digest]);
    expect(report.items.blobs.map((b) => b.digest).sort()).toEqual([dangling.config, ...dangling.layers].map((b) => b.descriptor.digest).sort());
    expect((await fetch(`${base()}/v2/${app}/blobs/${orphan.descriptor.digest}`, { method: "HEAD" })).status).toBe(200);

    // A shorter grace asked for one run applies to that run.
    const fresh = layer();
    await putBlob(base(), app, fresh.data);
    expect((await gc({ graceMs: 0 })).items.blobs.map((b) => b.digest).sort()).toEqual([orphan.descriptor.digest, fresh.descriptor.digest].sort());
  });

  test("--no-untagged keeps dangling manifests and what they reference, and still collects unreferenced blobs", async () => {
    const app = "keep/app";
    const dangling = image([layer()]);
    await push(base(), app, dangling);
    const orphan = layer();
    await putBlob(base(), app, orphan.data);
    await ageEverything(registry.deps, 2 * HOUR);
    const report = await gc({ untagged: false });
    expect(report.totals).toMatchObject({ manifests: 0, links: 1, blobs: 1 });
    expect(report.items.blobs.map((b) => b.digest)).toEqual([orphan.descriptor.digest]);
    await pullAndVerify(base(), app, dangling.digest);
  });

  test("one collector at a time; runs are recorded, and a run left running by a dead collector is marked interrupted", async () => {
    // A collector that died: its row still says running.
    const [{ id: dead }] = await registry.deps.database.query<{ id: number }>(
      `INSERT INTO gc_run (trigger, dry_run, status, options) VALUES ('cli', false, 'running', '{}') RETURNING id`,
    );
    if (database === "postgres") {
      // Another replica holds the lock.
      const holder = new pg.Client({ connectionString: registry.deps.config.databaseUrl });
      await holder.connect();
      try {
        await holder.query(`SELECT pg_advisory_lock($1)`, [GC_LOCK_KEY]);
        await expect(gc()).rejects.toBeInstanceOf(GcBusyError);
      } finally {
        await holder.end();
      }
    }
    // In this process: a slow run in progress refuses a second one.
    await putBlob(base(), "lock/app", layer().data);
    await putBlob(base(), "lock/app", layer().data);
    const batches = progressed();
    const slow = gc({ graceMs: 0, batchSize: 1, batchPauseMs: 300, onProgress: batches.onProgress });
    await batches.first; // it holds the lock, and pauses after each of its batches
    await expect(gc()).rejects.toBeInstanceOf(GcBusyError);
    const report = await slow;
    expect(report.interruptedRuns).toEqual([dead]);
    expect(report.totals).toMatchObject({ links: 2, blobs: 2 });

    const runs = await registry.deps.gc.listRuns();
    expect(runs[0]).toMatchObject({ id: report.runId, trigger: "api", status: "succeeded", phase: "done", blobsDeleted: 2, linksDeleted: 2 });
    expect(runs[0].bytesFreed).toBe(report.totals.bytesFreed);
    expect(runs[0].finishedAt).toBeInstanceOf(Date);
    expect(runs[0].report).toMatchObject({ runId: report.runId, totals: report.totals });
    expect(await registry.deps.gc.getRun(dead)).toMatchObject({ status: "interrupted" });
    // And the lock is free again.
    expect((await gc({ dryRun: true })).status).toBe("succeeded");
  });

  test("closing the service interrupts a run at a batch boundary; the next run completes", async () => {
    for (let i = 0; i < 6; i++) await putBlob(base(), "stop/app", layer().data);
    const batches = progressed();
    const running = gc({ graceMs: 0, batchSize: 1, batchPauseMs: 200, onProgress: batches.onProgress });
    await batches.first;
    await registry.deps.gc.close();
    const report = await running;
    expect(report.status).toBe("interrupted");
    expect(report.totals.links).toBeLessThan(6);
    await expectReachableBlobsStored(registry.deps);
    // A fresh service (as after a restart) finishes the job.
    await registry.restart();
    const next = await gc({ graceMs: 0 });
    expect(next.status).toBe("succeeded");
    expect(next.totals.links + report.totals.links).toBe(6);
  });
});

test("the schedule runs collections in the server", async () => {
  const registry = await startTestRegistry({ config: { gc: { schedule: "@every 1s" } } });
  try {
    expect(registry.deps.gc.startSchedule()).toBeInstanceOf(Date);
    const run = await waitFor("a scheduled run to finish", async () =>
      (await registry.deps.gc.listRuns()).find((r) => r.trigger === "schedule" && r.status !== "running"),
    );
    expect(run).toMatchObject({ status: "succeeded", dryRun: false });
  } finally {
    await registry.stop();
  }
});
