// A first start of the embedded database copies the cluster template `npm run build` made, and falls back
// to PGlite's initdb (in a child process) without one; either way the cluster only appears once complete.
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { buildClusterTemplate, clusterTemplateDir, createEmbeddedCluster } from "../../src/metadata/pglite-init";

jest.setTimeout(120_000);

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "berth-cluster-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function answers(dir: string): Promise<number> {
  const db = await PGlite.create(dir);
  try {
    const { rows } = await db.query<{ n: number }>("SELECT 41 + 1 AS n");
    return rows[0].n;
  } finally {
    await db.close();
  }
}

test("without a template, initdb makes the cluster; the build's template is then copied, and stale ones dropped", async () => {
  const packageDir = path.join(root, "package");
  const stale = path.join(packageDir, "dist", "pglite-template", "0.0.1");
  await mkdir(stale, { recursive: true });

  const fromInitdb = path.join(root, "initdb", "db");
  await mkdir(fromInitdb, { recursive: true });
  await createEmbeddedCluster(fromInitdb, packageDir);
  expect(await answers(fromInitdb)).toBe(42);

  const template = await buildClusterTemplate(packageDir);
  expect(template).toBe(await clusterTemplateDir(packageDir));
  expect(await readdir(path.dirname(template))).toEqual([path.basename(template)]);
  // A marker only the template has shows the cluster below is its copy, not a new initdb.
  await writeFile(path.join(template, "berth-template-marker"), "");

  const copied = path.join(root, "copied", "db");
  await mkdir(copied, { recursive: true });
  await createEmbeddedCluster(copied, packageDir);
  expect(await readdir(copied)).toContain("berth-template-marker");
  expect(await readdir(path.dirname(copied))).toEqual(["db"]); // nothing left beside it
  expect(await answers(copied)).toBe(42);

  // An existing cluster is left as it is.
  await writeFile(path.join(copied, "kept"), "");
  await createEmbeddedCluster(copied, packageDir);
  expect(await readdir(copied)).toContain("kept");
});

test("a folder holding files but no cluster is refused with a clear error, and left alone", async () => {
  const dir = path.join(root, "stray", "db");
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "notes.txt"), "mine");
  const packageDir = path.join(root, "package");
  await expect(createEmbeddedCluster(dir, packageDir)).rejects.toThrow(/holds files but no database/);
  expect(await readdir(dir)).toEqual(["notes.txt"]);
  expect(await readdir(path.dirname(dir))).toEqual(["db"]);
});
