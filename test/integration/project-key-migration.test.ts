// Migration 20261205113000_repository_project on a database that already holds repositories, some with a
// project row and some without (what Berth before it allowed): every repository gets the key of the project
// named by its first segment, a missing project is created private and without members, and from then on the
// key is kept by the database, whoever writes.
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openDatabase, type Database } from "../../src/metadata/database";
import { defaultMigrationsDir } from "../../src/metadata/migrator";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

jest.setTimeout(120_000);

const MIGRATION = "20261205113000_repository_project";
const digestOf = (s: string) => `sha256:${Buffer.from(s).toString("hex").padEnd(64, "0").slice(0, 64)}`;

describe.each(["postgres", "embedded"] as const)("the repository → project key, migrated (%s)", (kind) => {
  const dirs: string[] = [];
  let target: TestDatabase | undefined;
  let db: Database | undefined;
  const tmp = async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "berth-projkey-"));
    dirs.push(dir);
    return dir;
  };

  afterAll(async () => {
    await db?.close();
    await target?.drop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test("backfills existing repositories, keeps existing projects, and cascades from then on", async () => {
    // The history up to the migration before this one.
    const before = path.join(await tmp(), "migrations");
    await cp(defaultMigrationsDir(), before, { recursive: true });
    // Later migrations go too: they may build on this one (20261205150200_project_quotas reads the key).
    for (const name of await readdir(before)) {
      if (/^\d{14}_/.test(name) && name >= MIGRATION) await rm(path.join(before, name), { recursive: true });
    }
    if (kind === "postgres") target = await createTestDatabase();
    const options = { url: target?.url, dataDir: await tmp() };
    const old = await openDatabase({ ...options, migrationsDir: before });
    const [{ id: ownerId }] = await old.query<{ id: number }>(`INSERT INTO user_account (username, password_hash) VALUES ('owner1', 'x') RETURNING id`);
    const [{ id: ownedId }] = await old.query<{ id: number }>(`INSERT INTO project (name, public, owner_id) VALUES ('owned', true, $1) RETURNING id`, [ownerId]);
    await old.query(`INSERT INTO project_member (project_id, user_id, role) VALUES ($1, $2, 'admin')`, [ownedId, ownerId]);
    const repos = await old.query<{ id: number; name: string }>(
      `INSERT INTO repository (name) VALUES ('owned/app'), ('owned/sub/app2'), ('orphan/secret'), ('orphan/other'), ('single') RETURNING id, name`,
    );
    const secretId = repos.find((r) => r.name === "orphan/secret")!.id;
    const [{ id: manifestId }] = await old.query<{ id: number }>(
      `INSERT INTO manifest (repository_id, digest, media_type, content, size) VALUES ($1, $2, 'x', '\\x7b7d', 2) RETURNING id`,
      [secretId, digestOf("m")],
    );
    await old.query(`INSERT INTO tag (repository_id, name, manifest_id) VALUES ($1, 'v1', $2)`, [secretId, manifestId]);
    await old.query(`INSERT INTO blob (digest, size) VALUES ($1, 3)`, [digestOf("b")]);
    await old.query(`INSERT INTO repository_blob (repository_id, digest) VALUES ($1, $2)`, [secretId, digestOf("b")]);
    await old.query(`INSERT INTO mirror_tag (repository_id, tag, upstream, checked_at) VALUES ($1, 'v1', 'hub', now())`, [secretId]);
    await old.close();

    db = await openDatabase(options);
    // The quotas migration after this one counts what each project already stores: the blob (3 B) and the manifest (2 B).
    const usage = await db.query<{ name: string; used: string }>(
      `SELECT p.name, u.used_bytes::text AS used FROM project_usage u JOIN project p ON p.id = u.project_id ORDER BY p.name`,
    );
    expect(usage).toEqual([{ name: "orphan", used: "5" }, { name: "owned", used: "0" }, { name: "single", used: "0" }]);
    const rows = await db.query<{ name: string; project: string; public: boolean; owner_id: number | null; project_id: number; implicit: boolean }>(
      `SELECT r.name, p.name AS project, p.public, p.owner_id, r.project_id, p.implicit
         FROM repository r JOIN project p ON p.id = r.project_id ORDER BY r.name`,
    );
    expect(rows.map((r) => [r.name, r.project])).toEqual([
      ["orphan/other", "orphan"],
      ["orphan/secret", "orphan"],
      ["owned/app", "owned"],
      ["owned/sub/app2", "owned"],
      ["single", "single"],
    ]);
    // The project that existed keeps its row, owner and visibility; the created ones are private and ownerless.
    expect(rows.filter((r) => r.project === "owned").every((r) => r.project_id === ownedId && r.public && r.owner_id === ownerId && !r.implicit)).toBe(true);
    expect(rows.filter((r) => r.project !== "owned").every((r) => !r.public && r.owner_id === null && r.implicit)).toBe(true);
    const [{ members }] = await db.query<{ members: number }>(
      `SELECT count(*)::int AS members FROM project_member m JOIN project p ON p.id = m.project_id WHERE p.name IN ('orphan', 'single')`,
    );
    expect(members).toBe(0);

    const column = await db.query<{ is_nullable: string }>(
      `SELECT is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'repository' AND column_name = 'project_id'`,
    );
    expect(column).toEqual([{ is_nullable: "NO" }]);

    // New rows get their key from their name, whoever writes them; a wrong key is refused.
    await db.prisma.repository.create({ data: { name: "fresh/one" } });
    const [fresh] = await db.query<{ project: string; public: boolean; implicit: boolean }>(
      `SELECT p.name AS project, p.public, p.implicit FROM repository r JOIN project p ON p.id = r.project_id WHERE r.name = 'fresh/one'`,
    );
    expect(fresh).toEqual({ project: "fresh", public: false, implicit: true });
    await expect(db.query(`INSERT INTO repository (name, project_id) VALUES ('fresh/two', $1)`, [ownedId])).rejects.toThrow(/belongs to project fresh/);
    await expect(db.query(`UPDATE repository SET project_id = $1 WHERE name = 'fresh/one'`, [ownedId])).rejects.toThrow(/belongs to project fresh/);

    // Deleting a project takes its repositories and everything in them.
    await db.query(`DELETE FROM project WHERE name = 'orphan'`);
    const left = async (table: string) => (await db!.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE repository_id = $1`, [secretId]))[0].n;
    for (const table of ["manifest", "tag", "repository_blob", "mirror_tag"]) expect(await left(table)).toBe(0);
    expect((await db.query(`SELECT name FROM repository WHERE name LIKE 'orphan/%'`)).length).toBe(0);
    expect((await db.query(`SELECT name FROM repository WHERE name LIKE 'owned/%'`)).length).toBe(2);
  });
});
