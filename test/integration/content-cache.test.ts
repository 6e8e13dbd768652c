// The in-process cache of manifests and blob links (src/metadata/content-cache.ts) never keeps serving
// what changed elsewhere: two replicas share one PostgreSQL database and one storage root; changes made on one replica,
// or by raw SQL from outside Berth, reach the other's cache through the database's notifications; and
// while a replica cannot hear them, its cache is off.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { waitFor } from "../support/wait-for";
import { image, layer, push } from "../support/gc-helpers";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestRegistry, type TestRegistry } from "../support/registry";

describe("content cache across replicas (postgres)", () => {
  let database: TestDatabase;
  let storageRoot: string;
  let a: TestRegistry;
  let b: TestRegistry;
  let sql: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    storageRoot = await mkdtemp(path.join(os.tmpdir(), "berth-cache-storage-"));
    const config = { databaseUrl: database.url, storage: { fsync: false, root: storageRoot } };
    a = await startTestRegistry({ config });
    b = await startTestRegistry({ config });
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await b?.stop();
    await a?.stop();
    await database?.drop();
    if (storageRoot) await rm(storageRoot, { recursive: true, force: true });
  });

  const digestAt = async (registry: TestRegistry, repository: string, reference: string): Promise<string | number> => {
    const res = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
      headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    await res.arrayBuffer();
    return res.ok ? res.headers.get("docker-content-digest")! : res.status;
  };
  const cached = (registry: TestRegistry, repository: string, reference: { tag: string } | { digest: string }) =>
    registry.deps.contentCache.lookup(repository as never, reference as never) !== undefined;
  // A read fills the cache only if no change was announced while it ran, and the announcements of a push
  // just made on the other replica may still be arriving: read until one read was quiet enough to fill it.
  const readUntilCached = (registry: TestRegistry, repository: string, reference: { tag: string } | { digest: string }, digest: string) =>
    waitFor(
      `${repository} cached`,
      async () => (await digestAt(registry, repository, "tag" in reference ? reference.tag : reference.digest)) === digest && cached(registry, repository, reference),
      { timeoutMs: 5000 },
    );

  test("a tag moved on one replica is served moved by the other", async () => {
    const one = image([layer()]);
    const two = image([layer()]);
    await push(a.url, "team/app", one, "v1");
    await readUntilCached(b, "team/app", { tag: "v1" }, one.digest);

    await push(a.url, "team/app", two, "v1");
    await waitFor("replica b serving the moved tag", async () => (await digestAt(b, "team/app", "v1")) === two.digest, { timeoutMs: 5000 });
    // The writer itself never serves its own stale entry, not even for a moment.
    expect(await digestAt(a, "team/app", "v1")).toBe(two.digest);
  });

  test("a manifest deleted by raw SQL, outside any Berth process, stops being served", async () => {
    const img = image([layer()]);
    await push(a.url, "team/raw", img, "v1");
    await readUntilCached(b, "team/raw", { digest: img.digest }, img.digest);

    await sql.query(`DELETE FROM manifest m USING repository r WHERE r.id = m.repository_id AND r.name = 'team/raw'`);
    await waitFor("the deleted manifest answering 404", async () => (await digestAt(b, "team/raw", img.digest)) === 404, { timeoutMs: 5000 });
    expect(cached(b, "team/raw", { digest: img.digest })).toBe(false);
  });

  const blobStatus = async (registry: TestRegistry, repository: string, digest: string) =>
    (await fetch(`${registry.url}/v2/${repository}/blobs/${digest}`, { method: "HEAD" })).status;
  const blobCached = (registry: TestRegistry, repository: string, digest: string) =>
    registry.deps.contentCache.lookupBlob(repository as never, digest as never) !== undefined;
  const headUntilCached = (registry: TestRegistry, repository: string, digest: string) =>
    waitFor(`${repository} blob cached`, async () => (await blobStatus(registry, repository, digest)) === 200 && blobCached(registry, repository, digest), {
      timeoutMs: 5000,
    });

  test("a blob deleted from a repository on one replica stops being served by the other; other repositories keep it", async () => {
    const img = image([layer()]);
    const digest = img.layers[0]!.descriptor.digest;
    await push(a.url, "team/blob", img, "v1");
    await push(a.url, "team/other", img, "v1");
    await headUntilCached(b, "team/blob", digest);
    await headUntilCached(b, "team/other", digest);

    expect((await fetch(`${a.url}/v2/team/blob/blobs/${digest}`, { method: "DELETE" })).status).toBe(202);
    // The writer itself answers 404 at once.
    expect(await blobStatus(a, "team/blob", digest)).toBe(404);
    await waitFor("replica b answering 404 for the deleted blob", async () => (await blobStatus(b, "team/blob", digest)) === 404, { timeoutMs: 5000 });
    expect(await blobStatus(b, "team/other", digest)).toBe(200);
    const res = await fetch(`${b.url}/v2/team/other/blobs/${digest}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(img.layers[0]!.data)).toBe(true);
  });

  test("a blob link removed by raw SQL (as the collector removes them) stops being served", async () => {
    const img = image([layer()]);
    const digest = img.layers[0]!.descriptor.digest;
    await push(a.url, "team/rawblob", img, "v1");
    await headUntilCached(b, "team/rawblob", digest);

    await sql.query(`DELETE FROM repository_blob rb USING repository r WHERE r.id = rb.repository_id AND r.name = 'team/rawblob' AND rb.digest = $1`, [digest]);
    await waitFor("the unlinked blob answering 404", async () => (await blobStatus(b, "team/rawblob", digest)) === 404, { timeoutMs: 5000 });
    expect(blobCached(b, "team/rawblob", digest)).toBe(false);
  });

  test("while a replica cannot hear the database its cache is empty and unused; it fills again once it hears", async () => {
    const img = image([layer()]);
    await push(a.url, "team/cut", img, "v1");
    await readUntilCached(b, "team/cut", { tag: "v1" }, img.digest);

    // Cut every listening connection; changes made now reach nobody.
    await sql.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN berth_manifest_change'`,
    );
    await waitFor("replica b's cache emptied", async () => b.deps.contentCache.size === 0, { timeoutMs: 5000 });
    await sql.query(`DELETE FROM tag t USING repository r WHERE r.id = t.repository_id AND r.name = 'team/cut'`);
    expect(await digestAt(b, "team/cut", "v1")).toBe(404);

    await push(a.url, "team/cut", img, "v2");
    await waitFor(
      "replica b caching again after reconnecting",
      async () => (await digestAt(b, "team/cut", "v2")) === img.digest && cached(b, "team/cut", { tag: "v2" }),
      { timeoutMs: 10_000 },
    );
  });
});
