// A first start of the embedded database copies the migrated cluster template `npm run build` made, and
// falls back to PGlite's initdb (in a child process) without one; either way the cluster only appears once
// complete.
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { defaultMigrationsDir, readMigrations } from "../../src/metadata/migrator";
import { buildClusterTemplate, clusterTemplateDir, createEmbeddedCluster } from "../../src/metadata/pglite-init";

jest.setTimeout(120_000);

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "berth-cluster-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The migrations recorded in the cluster at `dir` (null: none ever ran there). */
async function recordedMigrations(dir: string): Promise<string[] | null> {
  const db = await PGlite.create(dir);
  try {
    const { rows } = await db.query<{ present: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`);
    if (!rows[0].present) return null;
    return (await db.query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name`)).rows.map((r) => r.migration_name);
  } finally {
    await db.close();
  }
}

test("without a template, initdb makes the cluster; the build's migrated template is then copied, and stale ones dropped", async () => {
  const packageDir = path.join(root, "package");
  const stale = path.join(packageDir, "dist", "pglite-template", "0.0.1-0000000000000000");
  await mkdir(stale, { recursive: true });

  const fromInitdb = path.join(root, "initdb", "db");
  await mkdir(fromInitdb, { recursive: true });
  await createEmbeddedCluster(fromInitdb, { root: packageDir });
  expect(await recordedMigrations(fromInitdb)).toBeNull(); // a bare cluster: the server migrates it

  const template = await buildClusterTemplate({ root: packageDir });
  expect(template).toBe(await clusterTemplateDir({ root: packageDir }));
  expect(await readdir(path.dirname(template))).toEqual([path.basename(template)]);
  // A marker only the template has shows the cluster below is its copy, not a new initdb.
  await writeFile(path.join(template, "berth-template-marker"), "");

  const copied = path.join(root, "copied", "db");
  await mkdir(copied, { recursive: true });
  await createEmbeddedCluster(copied, { root: packageDir });
  expect(await readdir(copied)).toContain("berth-template-marker");
  expect(await readdir(path.dirname(copied))).toEqual(["db"]); // nothing left beside it
  expect(await recordedMigrations(copied)).toEqual(readMigrations(defaultMigrationsDir()).map((m) => m.name));

  // An existing cluster is left as it is.
  await writeFile(path.join(copied, "kept"), "");
  await createEmbeddedCluster(copied, { root: packageDir });
  expect(await readdir(copied)).toContain("kept");
});

test("a template belongs to one set of migrations: other migrations find none", async () => {
  const packageDir = path.join(root, "package");
  const fewer = path.join(root, "fewer-migrations");
  const [first] = readMigrations(defaultMigrationsDir());
  await cp(path.join(defaultMigrationsDir(), first.name), path.join(fewer, first.name), { recursive: true });
  expect(await clusterTemplateDir({ root: packageDir, migrationsDir: fewer })).not.toBe(await clusterTemplateDir({ root: packageDir }));
});

test("a folder holding files but no cluster is refused with a clear error, and left alone", async () => {
  const dir = path.join(root, "stray", "db");
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "notes.txt"), "mine");
  await expect(createEmbeddedCluster(dir, { root: path.join(root, "package") })).rejects.toThrow(/holds files but no database/);
  expect(await readdir(dir)).toEqual(["notes.txt"]);
  expect(await readdir(path.dirname(dir))).toEqual(["db"]);
});
