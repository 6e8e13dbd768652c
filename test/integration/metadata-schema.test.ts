// Proves that prisma/migrations and prisma/schema.prisma agree (every model works through the generated
// client on a freshly migrated database), on a real PostgreSQL and on the embedded PGlite, and that the
// migrator keeps Prisma's `_prisma_migrations` bookkeeping and refuses to start on a doubtful history.
import { createHash, randomUUID } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { Prisma } from "../../src/generated/prisma/client";
import { openDatabase, type Database, type OpenDatabaseOptions } from "../../src/metadata/database";
import {
  checksumMatches,
  defaultMigrationsDir,
  MigrationError,
  MIGRATION_LOCK_KEY,
  migrationChecksum,
  readMigrations,
} from "../../src/metadata/migrator";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

jest.setTimeout(60_000);

const migrationsDir = defaultMigrationsDir();
const onDisk = readMigrations(migrationsDir);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};
const digestOf = (s: string) => `sha256:${Buffer.from(s).toString("hex").padEnd(64, "0").slice(0, 64)}`;

test("the migrations folder is found from the package root and is not empty", () => {
  expect(onDisk.map((m) => m.name)).toContain("20261123000000_init");
});

test("checksums compare the way Prisma compares them", () => {
  const script = "CREATE TABLE a (x int);\nCREATE TABLE b (y int);\n";
  const sum = migrationChecksum(script);
  expect(sum).toMatch(/^[0-9a-f]{64}$/);
  expect(checksumMatches(script.replace(/\n/g, "\r\n"), sum)).toBe(true); // git line-ending conversion
  expect(checksumMatches(script + " ", sum)).toBe(false);
  expect(migrationChecksum("hello")).toBe("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
});

type Kind = Database["kind"];

describe.each<Kind>(["postgres", "embedded"])("%s backend", (kind) => {
  let target: TestDatabase | undefined;
  let tmp: string;
  let db: Database;
  let options: OpenDatabaseOptions;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "berth-meta-"));
    if (kind === "postgres") target = await createTestDatabase();
    options = { url: target?.url, dataDir: tmp };
    db = await openDatabase(options);
    expect(db.kind).toBe(kind);
  });

  afterAll(async () => {
    await db?.close();
    await target?.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  test("every model can be created and read back, relations included", async () => {
    const { prisma } = db;
    const repo = await prisma.repository.create({ data: { name: "library/alpine" } });
    const blob = await prisma.blob.create({ data: { digest: digestOf("layer"), size: 9_007_199_254_740_993n } });
    await prisma.repositoryBlob.create({ data: { repositoryId: repo.id, digest: blob.digest } });
    const content = Buffer.from('{"schemaVersion":2}');
    const manifest = await prisma.manifest.create({
      data: {
        repositoryId: repo.id,
        digest: digestOf("manifest"),
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        content,
        size: content.length,
        subjectDigest: digestOf("subject"),
        artifactType: "application/vnd.example",
        annotations: { "org.opencontainers.image.title": "x", nested: [1, true, null] },
        references: { create: [{ digest: blob.digest, kind: "blob" }] },
      },
    });
    await prisma.tag.create({ data: { repositoryId: repo.id, name: "latest", manifestId: manifest.id } });
    const uploadId = randomUUID();
    await prisma.upload.create({
      data: { id: uploadId, repositoryId: repo.id, offset: 5n, driverState: { parts: ["a", "b"] } },
    });

    const read = await prisma.repository.findUniqueOrThrow({
      where: { name: "library/alpine" },
      include: {
        blobs: { include: { blob: true } },
        manifests: { include: { references: true, tags: true } },
        tags: { include: { manifest: true } },
        uploads: true,
      },
    });
    expect(read.createdAt).toBeInstanceOf(Date);
    expect(read.blobs).toHaveLength(1);
    expect(read.blobs[0].blob.size).toBe(9_007_199_254_740_993n);
    const m = read.manifests[0];
    expect(Buffer.from(m.content).equals(content)).toBe(true);
    expect(m.annotations).toEqual({ "org.opencontainers.image.title": "x", nested: [1, true, null] });
    expect(m.subjectDigest).toBe(digestOf("subject"));
    expect(m.references).toEqual([{ manifestId: m.id, digest: blob.digest, kind: "blob" }]);
    expect(m.tags.map((t) => t.name)).toEqual(["latest"]);
    expect(read.tags[0].manifest.digest).toBe(digestOf("manifest"));
    expect(read.uploads).toEqual([
      expect.objectContaining({ id: uploadId, offset: 5n, driverState: { parts: ["a", "b"] } }),
    ]);
    // The other direction of each relation, and a filter on an indexed column.
    const links = await prisma.blob.findUniqueOrThrow({ where: { digest: blob.digest }, include: { links: true } });
    expect(links.links).toEqual([expect.objectContaining({ repositoryId: repo.id })]);
    const refs = await prisma.manifestReference.findMany({ where: { digest: blob.digest }, include: { manifest: true } });
    expect(refs.map((r) => r.manifest.id)).toEqual([manifest.id]);
    const tag = await prisma.tag.findUniqueOrThrow({
      where: { repositoryId_name: { repositoryId: repo.id, name: "latest" } },
      include: { repository: true },
    });
    expect(tag.repository.name).toBe("library/alpine");
    const upload = await prisma.upload.findUniqueOrThrow({ where: { id: uploadId }, include: { repository: true } });
    expect(upload.repository.id).toBe(repo.id);
  });

  test("gc runs: every column round-trips, defaults included", async () => {
    const { prisma } = db;
    const created = await prisma.gcRun.create({
      data: { trigger: "cli", dryRun: true, status: "running", options: { graceMs: 3_600_000 } },
    });
    expect(created).toMatchObject({
      phase: null, finishedAt: null, tagsDeleted: 0, manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0,
      uploadsDeleted: 0, bytesFreed: 0n, errors: null, report: null,
    });
    expect(created.startedAt).toBeInstanceOf(Date);
    await prisma.gcRun.update({
      where: { id: created.id },
      data: {
        status: "succeeded", phase: "done", finishedAt: new Date(), tagsDeleted: 1, manifestsDeleted: 2, linksDeleted: 3,
        blobsDeleted: 4, uploadsDeleted: 5, bytesFreed: 9_007_199_254_740_993n, errors: ["x"], report: { a: [1] },
      },
    });
    const read = await prisma.gcRun.findMany({ where: { startedAt: { lte: new Date(Date.now() + 60_000) } }, orderBy: { startedAt: "desc" } });
    expect(read[0]).toMatchObject({ id: created.id, status: "succeeded", bytesFreed: 9_007_199_254_740_993n, errors: ["x"], report: { a: [1] } });
  });

  test("project rules: every column round-trips, and the rules go with their project", async () => {
    const { prisma } = db;
    const project = await prisma.project.create({ data: { name: "ruled" } });
    const rule = await prisma.projectRule.create({ data: { projectId: project.id, kind: "immutable", spec: { tags: ["v.*"] }, updatedBy: "admin" } });
    const read = await prisma.projectRule.findUniqueOrThrow({ where: { id: rule.id }, include: { project: true } });
    expect(read).toMatchObject({ kind: "immutable", spec: { tags: ["v.*"] }, updatedBy: "admin", project: { name: "ruled" } });
    expect(read.createdAt.getTime()).toBe(read.updatedAt.getTime());
    await prisma.project.delete({ where: { id: project.id } });
    expect(await prisma.projectRule.count({ where: { id: rule.id } })).toBe(0);
  });

  test("constraints from the migration behave as the schema says (unique, cascade, C collation)", async () => {
    const { prisma } = db;
    const repo = await prisma.repository.create({ data: { name: "dup/check" } });
    await expect(prisma.repository.create({ data: { name: "dup/check" } })).rejects.toMatchObject({
      code: "P2002",
    });
    await expect(prisma.repository.create({ data: { name: "dup/check" } })).rejects.toBeInstanceOf(
      Prisma.PrismaClientKnownRequestError,
    );
    const manifest = await prisma.manifest.create({
      data: { repositoryId: repo.id, digest: digestOf("m2"), mediaType: "x", content: Buffer.from("{}"), size: 2 },
    });
    await prisma.tag.create({ data: { repositoryId: repo.id, name: "v1", manifestId: manifest.id } });
    await prisma.repository.delete({ where: { id: repo.id } });
    expect(await prisma.manifest.count({ where: { repositoryId: repo.id } })).toBe(0);
    expect(await prisma.tag.count({ where: { repositoryId: repo.id } })).toBe(0);

    // Tag listing order must be byte order (OCI), which COLLATE "C" gives whatever the server's locale.
    const r2 = await prisma.repository.create({ data: { name: "collate/check" } });
    const m2 = await prisma.manifest.create({
      data: { repositoryId: r2.id, digest: digestOf("m3"), mediaType: "x", content: Buffer.from("{}"), size: 2 },
    });
    for (const name of ["b", "B", "a", "A", "_"]) {
      await prisma.tag.create({ data: { repositoryId: r2.id, name, manifestId: m2.id } });
    }
    const names = (await prisma.tag.findMany({ where: { repositoryId: r2.id }, orderBy: { name: "asc" } })).map(
      (t) => t.name,
    );
    expect(names).toEqual(["A", "B", "_", "a", "b"]);
  });

  test("_prisma_migrations has Prisma's columns and one finished row per migration with its checksum", async () => {
    const columns = await db.query(
      `SELECT column_name, data_type, character_maximum_length AS len, is_nullable, column_default
         FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = '_prisma_migrations'
        ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: "id", data_type: "character varying", len: 36, is_nullable: "NO", column_default: null },
      { column_name: "checksum", data_type: "character varying", len: 64, is_nullable: "NO", column_default: null },
      { column_name: "finished_at", data_type: "timestamp with time zone", len: null, is_nullable: "YES", column_default: null },
      { column_name: "migration_name", data_type: "character varying", len: 255, is_nullable: "NO", column_default: null },
      { column_name: "logs", data_type: "text", len: null, is_nullable: "YES", column_default: null },
      { column_name: "rolled_back_at", data_type: "timestamp with time zone", len: null, is_nullable: "YES", column_default: null },
      { column_name: "started_at", data_type: "timestamp with time zone", len: null, is_nullable: "NO", column_default: "now()" },
      { column_name: "applied_steps_count", data_type: "integer", len: null, is_nullable: "NO", column_default: "0" },
    ]);

    const rows = await db.query<{
      id: string; checksum: string; migration_name: string; finished_at: Date | null; started_at: Date;
      logs: string | null; rolled_back_at: Date | null; applied_steps_count: number;
    }>(`SELECT * FROM "_prisma_migrations" ORDER BY migration_name`);
    expect(rows.map((r) => r.migration_name)).toEqual(onDisk.map((m) => m.name));
    for (const [i, row] of rows.entries()) {
      const file = await readFile(path.join(migrationsDir, row.migration_name, "migration.sql"));
      expect(row.checksum).toBe(createHash("sha256").update(file).digest("hex"));
      expect(row.checksum).toBe(onDisk[i].checksum);
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row).toMatchObject({ logs: null, rolled_back_at: null, applied_steps_count: 1 });
    }
  });

  test("raw queries return the same types on both backends", async () => {
    const [row] = await db.query(
      `SELECT $1::int8 AS big, $2::bytea AS bytes, $3::timestamptz AS at, $4::jsonb AS doc,
              2::int4 AS small, 1.5::numeric AS dec, NULL::text AS nothing, count(*) AS n
         FROM (VALUES (1), (2)) v(x)`,
      [9_007_199_254_740_993n, Buffer.from([0, 1, 255]), new Date("2026-01-02T03:04:05.678Z"), JSON.stringify({ a: [1] })],
    );
    expect(row).toEqual({
      big: 9_007_199_254_740_993n,
      bytes: Buffer.from([0, 1, 255]),
      at: new Date("2026-01-02T03:04:05.678Z"),
      doc: { a: [1] },
      small: 2,
      dec: "1.5",
      nothing: null,
      n: 2n,
    });
    expect(Buffer.isBuffer(row.bytes)).toBe(true);
    // And rows written by Prisma are visible to raw SQL (same database, same connection pool or instance).
    const [repo] = await db.query<{ name: string }>(`SELECT name FROM repository WHERE name = $1`, ["library/alpine"]);
    expect(repo?.name).toBe("library/alpine");
  });

  test("interactive transactions commit, roll back and never interleave", async () => {
    const { prisma } = db;
    const repo = await prisma.repository.create({ data: { name: `tx/${kind}` } });
    const digest = digestOf(`counter-${kind}`);
    await prisma.blob.create({ data: { digest, size: 0n } });

    // Read-modify-write from several concurrent transactions: no lost update, no deadlock. FOR UPDATE
    // serializes them on Postgres; PGlite runs one transaction at a time anyway.
    const bump = () =>
      prisma.$transaction(async (tx) => {
        const [{ size }] = await tx.$queryRaw<{ size: bigint }[]>`SELECT size FROM blob WHERE digest = ${digest} FOR UPDATE`;
        await sleep(20);
        await tx.blob.update({ where: { digest }, data: { size: size + 1n } });
      });
    // Plain queries issued meanwhile must wait their turn, not slip into someone's transaction.
    const plain = Array.from({ length: 5 }, () => prisma.repository.findUnique({ where: { id: repo.id } }));
    await Promise.all([...Array.from({ length: 5 }, bump), ...plain]);
    expect((await prisma.blob.findUniqueOrThrow({ where: { digest } })).size).toBe(5n);

    // A transaction that fails rolls back alone: the concurrent one that commits keeps its row. If PGlite
    // ran B's statements inside A's transaction, B's upload would vanish with A's rollback.
    const a = randomUUID();
    const b = randomUUID();
    const aInserted = deferred();
    const txA = prisma.$transaction(async (tx) => {
      await tx.upload.create({ data: { id: a, repositoryId: repo.id } });
      aInserted.resolve();
      await sleep(100);
      throw new Error("abort A");
    });
    await aInserted.promise;
    const txB = prisma.$transaction(async (tx) => {
      await tx.upload.create({ data: { id: b, repositoryId: repo.id } });
    });
    await expect(txA).rejects.toThrow("abort A");
    await txB;
    const ids = (await prisma.upload.findMany({ where: { repositoryId: repo.id } })).map((u) => u.id);
    expect(ids).toEqual([b]);

    // Raw SQL from outside sees only committed data: on PGlite it waits for the open transaction to end,
    // on Postgres it runs on another connection and sees the state before the commit.
    const c = randomUUID();
    const cInserted = deferred();
    const queried = deferred();
    const txC = prisma.$transaction(async (tx) => {
      await tx.upload.create({ data: { id: c, repositoryId: repo.id } });
      cInserted.resolve();
      // On Postgres the transaction stays open until the query has run; on PGlite that query cannot run
      // before the transaction ends, so waiting for it would never end.
      if (kind === "postgres") await queried.promise;
    });
    await cInserted.promise;
    const seen = await db.query(`SELECT id FROM upload WHERE id = $1`, [c]);
    queried.resolve();
    await txC;
    expect(seen.length).toBe(kind === "embedded" ? 1 : 0);
  });

  test("re-opening applies nothing, keeps the data and the history", async () => {
    const before = await db.query(`SELECT id, started_at FROM "_prisma_migrations" ORDER BY id`);
    await db.close();
    await db.close(); // idempotent
    const applied: string[] = [];
    // Embedded: this also proves close() released PGlite and its lock, or the dir could not be reopened.
    db = await openDatabase({ ...options, migrate: { log: (msg) => applied.push(msg) } });
    expect(applied).toEqual([]);
    expect(await db.query(`SELECT id, started_at FROM "_prisma_migrations" ORDER BY id`)).toEqual(before);
    expect(await db.prisma.repository.findUnique({ where: { name: "library/alpine" } })).not.toBeNull();
  });

  if (kind === "embedded") {
    test("an embedded database cannot be opened twice at once, and a stale lock is taken over", async () => {
      await expect(openDatabase(options)).rejects.toThrow(/already open in this process/);
      await db.close();
      await writeFile(path.join(tmp, "db.lock"), "999999999"); // a process that cannot exist
      db = await openDatabase(options);
      expect(await db.prisma.repository.count()).toBeGreaterThan(0);
    });
  }
});

describe("postgres start-up checks", () => {
  const dbs: TestDatabase[] = [];
  const dirs: string[] = [];
  const fresh = async () => {
    const t = await createTestDatabase();
    dbs.push(t);
    return t;
  };
  const tmpDir = async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), "berth-meta-"));
    dirs.push(d);
    return d;
  };
  const sql = async (url: string, text: string, values?: unknown[]) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(text, values)).rows;
    } finally {
      await c.end();
    }
  };

  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  test("concurrent start-ups against one server all succeed and migrate once (advisory lock)", async () => {
    const t = await fresh();
    const dataDir = await tmpDir();
    const applied: string[] = [];
    const opened = await Promise.all(
      Array.from({ length: 4 }, () => openDatabase({ url: t.url, dataDir, migrate: { log: (m) => applied.push(m) } })),
    );
    try {
      expect(applied).toEqual(onDisk.map((m) => `applying migration ${m.name}`));
      for (const d of opened) expect(await d.prisma.repository.count()).toBe(0);
      const rows = await sql(t.url, `SELECT migration_name FROM "_prisma_migrations"`);
      expect(rows).toHaveLength(onDisk.length);
    } finally {
      await Promise.all(opened.map((d) => d.close()));
    }
  });

  test("a tampered checksum stops start-up with a clear error", async () => {
    const t = await fresh();
    const dataDir = await tmpDir();
    await (await openDatabase({ url: t.url, dataDir })).close();
    await sql(t.url, `UPDATE "_prisma_migrations" SET checksum = $1 WHERE migration_name = $2`, ["0".repeat(64), onDisk[0].name]);
    const err = await openDatabase({ url: t.url, dataDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(new RegExp(`migration ${onDisk[0].name} was modified after it was applied`));
    // And the lock was released on the way out: the server is usable by the next start-up. (pg_locks is
    // server-wide: other suites running at the same time hold advisory locks of their own.)
    const held = await sql(
      t.url,
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [MIGRATION_LOCK_KEY],
    );
    expect(held).toEqual([{ n: 0 }]);
  });

  test("a recorded failed migration stops start-up; one marked rolled back is applied again", async () => {
    const t = await fresh();
    const dataDir = await tmpDir();
    await (await openDatabase({ url: t.url, dataDir })).close();
    await sql(t.url, `UPDATE "_prisma_migrations" SET finished_at = NULL, logs = 'boom'`);
    await expect(openDatabase({ url: t.url, dataDir })).rejects.toThrow(
      new RegExp(`migration ${onDisk[0].name} is recorded as started but not finished.*prisma migrate resolve.*boom`),
    );
    // What `prisma migrate resolve --rolled-back` does, after someone cleaned the schema by hand.
    await sql(t.url, `UPDATE "_prisma_migrations" SET rolled_back_at = now()`);
    const rows = await sql(t.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`);
    for (const { tablename } of rows) await sql(t.url, `DROP TABLE "${tablename}" CASCADE`);
    const d = await openDatabase({ url: t.url, dataDir });
    await d.close();
    const history = await sql(t.url, `SELECT migration_name, rolled_back_at IS NULL AS live FROM "_prisma_migrations" ORDER BY started_at`);
    expect(history).toEqual([
      ...onDisk.map((m) => ({ migration_name: m.name, live: false })),
      ...onDisk.map((m) => ({ migration_name: m.name, live: true })),
    ]);
  });

  test("a failing migration is rolled back whole and leaves no history row", async () => {
    const t = await fresh();
    const dataDir = await tmpDir();
    const dir = path.join(await tmpDir(), "migrations");
    await cp(migrationsDir, dir, { recursive: true });
    await mkdir(path.join(dir, "20990101000000_bad"));
    await writeFile(
      path.join(dir, "20990101000000_bad", "migration.sql"),
      `CREATE TABLE "half_done" ("id" INTEGER);\nALTER TABLE "no_such_table" ADD COLUMN "x" INTEGER;\n`,
    );
    await expect(openDatabase({ url: t.url, dataDir, migrationsDir: dir })).rejects.toThrow(
      /migration 20990101000000_bad failed and was rolled back: .*no_such_table/,
    );
    expect(await sql(t.url, `SELECT to_regclass('half_done') AS t`)).toEqual([{ t: null }]);
    const names = await sql(t.url, `SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name`);
    expect(names.map((r) => r.migration_name)).toEqual(onDisk.map((m) => m.name)); // the good ones stayed
  });

  test("a migration lock held elsewhere times out with a clear error", async () => {
    const t = await fresh();
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(72707369)`);
      await expect(
        openDatabase({ url: t.url, dataDir: await tmpDir(), migrate: { lockTimeoutMs: 300 } }),
      ).rejects.toThrow(/waiting for the migration lock/);
    } finally {
      await holder.end();
    }
  });
});
