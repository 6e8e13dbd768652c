// Nothing reachable is ever lost while the collector runs in a loop with grace 0 and pushers keep pushing
// images whose layers the collector is deleting at that very moment: re-uploads, mounts, HEAD-then-skip,
// index pushes, referrers, tag moves and tag deletions all race with sweeps. Pushes may be refused (and
// are retried, as a client would); afterwards every tag pulls completely and every digest verifies.
import { GcBusyError } from "../../src/gc/gc-service";
import {
  expectIntegrity,
  expectReachableBlobsStored,
  image,
  index,
  layer,
  referrer,
  snapshot,
  verifyAllTags,
  type Image,
} from "../support/gc-helpers";
import { pushBlob, pushManifest, type Blob } from "../support/oci-client";
import type { BuiltManifest } from "../support/oci-client";
import { startTestRegistry, type DatabaseKind, type TestRegistry } from "../support/registry";
import { waitFor } from "../support/wait-for";

jest.setTimeout(240_000);

const SOURCE = "pool/source";

interface Stats {
  pushed: number;
  refused: number;
  gaveUp: number;
  mounted: number;
  skipped: number;
  uploaded: number;
}

describe.each<[DatabaseKind, number, number, number]>([
  ["postgres", 4, 15_000, 200],
  ["embedded", 2, 12_000, 300],
])("pushers racing a collector in a loop (%s)", (database, pushers, durationMs, gapMs) => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ database });
  });
  afterAll(() => registry?.stop());

  test("every tag still pulls completely afterwards", async () => {
    const base = registry.url;
    const stats: Stats = { pushed: 0, refused: 0, gaveUp: 0, mounted: 0, skipped: 0, uploaded: 0 };

    // A pool of shared layers that keep becoming garbage (their images untagged and collected) and being
    // pushed again; also uploaded to a source repository that pushers mount from.
    const pool = Array.from({ length: 30 }, () => layer(2048));
    const poolDigests = new Set(pool.map((l) => l.descriptor.digest));
    for (const l of pool) await uploadBlob(base, SOURCE, l, stats);

    const stop = { now: false };
    let collections = 0;
    let collected = 0;
    let poolCollected = 0;
    const collector = (async () => {
      while (!stop.now) {
        try {
          const report = await registry.deps.gc.collect({ trigger: "api", graceMs: 0, batchSize: 3, retention: false });
          if (report.status !== "succeeded") throw new Error(`collection ${report.status}: ${report.errors.join("; ")}`);
          collections++;
          collected += report.totals.blobs;
          poolCollected += report.items.blobs.filter((b) => poolDigests.has(b.digest)).length;
        } catch (err) {
          if (!(err instanceof GcBusyError)) throw err;
        }
        // Grace 0 protects nothing that is not referenced yet: a collection starting between a push's
        // blob uploads and its manifest unlinks the blobs, so back-to-back collections would refuse every
        // push slower than the gap between them (on a loaded machine, all of them). Safety holds either
        // way; for progress, wait until some push got through (or a while), then start at a random moment,
        // usually in the middle of other pushes.
        const pushed = stats.pushed;
        const patience = Date.now() + 2000;
        while (!stop.now && stats.pushed === pushed && Date.now() < patience) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, Math.random() * gapMs));
      }
    })();

    // At least durationMs, and on a loaded machine longer, until enough happened (capped at 4x).
    const started = Date.now();
    const racing = () =>
      Date.now() - started < durationMs ||
      ((collections < 5 || stats.pushed < 10) && Date.now() - started < 4 * durationMs);
    const workers = Array.from({ length: pushers }, async (_, w) => {
      const repo = `race/p${w}`;
      const mine: string[] = [];
      for (let i = 0; racing(); i++) {
        const pick = () => pool[Math.floor(Math.random() * pool.length)];
        const roll = Math.random();
        if (roll < 0.3 && mine.length > 2) {
          // Delete a tag: its image becomes garbage for the collector to chase.
          const tag = mine.splice(Math.floor(Math.random() * mine.length), 1)[0];
          await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: "DELETE" });
          continue;
        }
        if (roll < 0.4) {
          // Re-seed the source repository, so mounts sometimes find it.
          await uploadBlob(base, SOURCE, pick(), stats);
          continue;
        }
        const tag = `t${i}`;
        if (roll < 0.55) {
          // A two-platform index: children by digest first, then the index by tag.
          const children = [image([pick(), layer(128)]), image([pick()])];
          await pushWithRetries(base, repo, stats, async () => {
            for (const child of children) if (!(await pushImage(base, repo, child, child.digest, stats))) return false;
            return putManifest(base, repo, index(children), tag);
          });
        } else {
          const img = image([pick(), pick(), layer(128)]);
          await pushWithRetries(base, repo, stats, () => pushImage(base, repo, img, tag, stats));
          if (roll > 0.85) {
            // A signature for it, untagged: kept as long as its subject is.
            await pushWithRetries(base, repo, stats, () => pushImage(base, repo, referrer(img), undefined, stats));
          }
        }
        mine.push(tag);
      }
    });
    await Promise.all(workers);
    stop.now = true;
    await collector;

    console.log(`${database} (during): ${collections} collections, ${collected} blobs deleted (${poolCollected} pool), ` +
      `stats ${JSON.stringify(stats)}`);
    // Not vacuous: the collector ran many times and deleted blobs, pushes went through.
    expect(collections).toBeGreaterThanOrEqual(5);
    expect(collected).toBeGreaterThan(0);
    expect(poolCollected).toBeGreaterThan(0); // shared layers were deleted while pushers kept using them
    // Liveness with grace 0 depends on the machine's speed (a push slower than the gap between two
    // collections is refused); safety must not. So: enough pushes to mean something, whatever the load.
    expect(stats.pushed).toBeGreaterThanOrEqual(10);

    const tags = await verifyAllTags(registry.deps, base);
    expect(tags).toBeGreaterThan(0);
    await expectReachableBlobsStored(registry.deps);

    // A last collection with nobody pushing removes every leftover and nothing reachable.
    const final = await registry.deps.gc.collect({ trigger: "api", graceMs: 0 });
    expect(final.status).toBe("succeeded");
    expect(await verifyAllTags(registry.deps, base)).toBe(tags);
    await expectReachableBlobsStored(registry.deps);
    await expectIntegrity(registry.deps);
    const again = await registry.deps.gc.collect({ trigger: "api", graceMs: 0 });
    expect(again.totals).toMatchObject({ manifests: 0, links: 0, blobs: 0 });
    console.log(`${database}: ${collections} collections deleted ${collected} blobs (${poolCollected} of them shared ` +
      `pool layers, pushed again later) while ${pushers} pushers pushed ` +
      `${stats.pushed} manifests (${stats.refused} refused and retried; blobs: ${stats.uploaded} uploaded, ` +
      `${stats.mounted} mounted, ${stats.skipped} skipped after HEAD); ${tags} tags verified`);
  });
});

/** Retries a whole push the way a client re-runs `push` after MANIFEST_BLOB_UNKNOWN. */
async function pushWithRetries(base: string, repo: string, stats: Stats, attempt: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (await attempt()) {
      stats.pushed++;
      return;
    }
    stats.refused++;
  }
  stats.gaveUp++;
}

/** Like docker: HEAD each blob, else try a mount from the source repository, else upload it. */
async function pushImage(base: string, repo: string, img: Image, ref: string | undefined, stats: Stats): Promise<boolean> {
  for (const blob of [img.config, ...img.layers]) {
    const head = await fetch(`${base}/v2/${repo}/blobs/${blob.descriptor.digest}`, { method: "HEAD" });
    if (head.status === 200) {
      stats.skipped++;
      continue;
    }
    const mount = await fetch(`${base}/v2/${repo}/blobs/uploads/?mount=${blob.descriptor.digest}&from=${SOURCE}`, { method: "POST" });
    if (mount.status === 201) {
      stats.mounted++;
      continue;
    }
    if (mount.status !== 202) throw new Error(`mount: ${mount.status} ${await mount.text()}`);
    await mount.arrayBuffer();
    await uploadBlob(base, repo, blob, stats);
  }
  return putManifest(base, repo, img, ref ?? img.digest);
}

async function uploadBlob(base: string, repo: string, blob: Blob, stats: Stats): Promise<void> {
  const { response } = await pushBlob(base, repo, blob.data);
  if (response.status !== 201) throw new Error(`upload: ${response.status} ${await response.text()}`);
  stats.uploaded++;
}

/** true when stored; false when refused because something it names is gone (the push is retried). */
async function putManifest(base: string, repo: string, m: BuiltManifest, ref: string): Promise<boolean> {
  const res = await pushManifest(base, repo, ref, m.bytes, m.mediaType);
  if (res.status === 201) return true;
  const text = await res.text();
  if (res.status === 400 && text.includes("MANIFEST_BLOB_UNKNOWN")) return false;
  throw new Error(`PUT ${repo}:${ref}: ${res.status} ${text}`);
}

// The two orders in which a re-push of a blob can meet the collector deleting it, forced with storage
// operations held open at the worst moment. Before publishBlob, the first one lost the re-pushed bytes.
describe.each<DatabaseKind>(["postgres", "embedded"])("a re-push meeting the deletion of its blob (%s)", (database) => {
  let registry: TestRegistry;
  beforeEach(async () => {
    registry = await startTestRegistry({ database });
  });
  afterEach(() => registry?.stop());

  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    return { open, opened };
  };

  test("collector first: the upload waits until the old bytes are gone, then its bytes stay", async () => {
    const x = layer(4096);
    const stats = { pushed: 0, refused: 0, gaveUp: 0, mounted: 0, skipped: 0, uploaded: 0 };
    await uploadBlob(registry.url, "first/a", x, stats); // linked, unreferenced: garbage with grace 0

    // A collector whose storage holds the deletion of x's bytes until we say so.
    const { GcService } = await import("../../src/gc/gc-service");
    const deleting = gate();
    const release = gate();
    const storage = Object.create(registry.deps.storage) as typeof registry.deps.storage;
    storage.delete = async (path: string) => {
      if (path.endsWith(x.descriptor.digest.slice("sha256:".length))) {
        deleting.open();
        await release.opened;
      }
      return registry.deps.storage.delete(path);
    };
    const collector = new GcService({ stores: registry.deps.stores, storage, config: registry.deps.config });
    const run = collector.collect({ trigger: "api", graceMs: 0 });
    await deleting.opened; // the collector holds x's row and is about to delete its bytes

    // The same blob pushed again, to another repository, right now.
    let uploaded = false;
    const upload = uploadBlob(registry.url, "first/b", x, stats).then(() => (uploaded = true));
    if (database === "postgres") {
      await waitFor("the upload waiting for the collector's row lock", async () => {
        const [row] = await registry.deps.database.query<{ n: bigint }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
        );
        return row.n > 0n;
      });
    } else {
      // PGlite's one connection shows no waiter; the upload gets this long to get as far as it can.
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(uploaded).toBe(false); // waiting for the collector's row lock, its bytes not yet in place
    release.open();
    expect((await run).totals.blobs).toBe(1);
    await upload;
    await collector.close();

    await expectReachableBlobsStored(registry.deps);
    const res = await fetch(`${registry.url}/v2/first/b/blobs/${x.descriptor.digest}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(x.data)).toBe(true);
  });

  test("upload first: the collector skips the blob being published and finds it linked afterwards", async () => {
    const x = layer(4096);
    const stats = { pushed: 0, refused: 0, gaveUp: 0, mounted: 0, skipped: 0, uploaded: 0 };
    await uploadBlob(registry.url, "second/a", x, stats);
    await fetch(`${registry.url}/v2/second/a/blobs/${x.descriptor.digest}`, { method: "DELETE" }); // unlinked: garbage

    // The server's storage holds the commit of the re-pushed bytes into place (inside publishBlob).
    const moving = gate();
    const release = gate();
    const storage = registry.deps.storage;
    const openWriter = storage.writer.bind(storage);
    storage.writer = async (...args: Parameters<typeof storage.writer>) => {
      const writer = await openWriter(...args);
      const commit = writer.commit.bind(writer);
      writer.commit = async (to?: string) => {
        if (to?.endsWith(x.descriptor.digest.slice("sha256:".length))) {
          moving.open();
          await release.opened;
        }
        return commit(to);
      };
      return writer;
    };
    const upload = uploadBlob(registry.url, "second/b", x, stats);
    await moving.opened;
    const run = registry.deps.gc.collect({ trigger: "api", graceMs: 0 });
    setTimeout(release.open, 500);
    const report = await run;
    await upload;
    storage.writer = openWriter;
    await expectReachableBlobsStored(registry.deps);
    if (database === "postgres") {
      // The collection's cutoff predates the publish, which locked x first: x is skipped and stays.
      expect(report.items.blobs.map((b) => b.digest)).not.toContain(x.descriptor.digest);
      const res = await fetch(`${registry.url}/v2/second/b/blobs/${x.descriptor.digest}`);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(x.data)).toBe(true);
    } else {
      // One connection: the collection could only start once the publish had committed; with grace 0 it
      // then collected x (linked but unreferenced) completely: no link, no row, no bytes.
      const s = await snapshot(registry.deps);
      const linked = s.links.includes(`second/b@${x.descriptor.digest}`);
      expect(linked).toBe(!report.items.blobs.some((b) => b.digest === x.descriptor.digest));
      if (!linked) expect([s.blobs, s.files].flat()).not.toContain(x.descriptor.digest);
    }
  });
});

test("concurrent mounts of one blob into many repositories all succeed (no lock-upgrade deadlock)", async () => {
  const registry = await startTestRegistry({ database: "postgres" });
  try {
    const x = layer(1024);
    const stats = { pushed: 0, refused: 0, gaveUp: 0, mounted: 0, skipped: 0, uploaded: 0 };
    await uploadBlob(registry.url, "mount/src", x, stats);
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          fetch(`${registry.url}/v2/mount/dst-${round}-${i}/blobs/uploads/?mount=${x.descriptor.digest}&from=mount/src`, { method: "POST" })
            .then(async (r) => (await r.arrayBuffer(), r.status)),
        ),
      );
      expect(statuses).toEqual(Array(12).fill(201));
    }
  } finally {
    await registry.stop();
  }
});
