// Creating an embedded database (PGlite's initdb) grows the WASM memory to ~600 MiB, and WASM memory is
// never given back: a server that created its database in-process would carry that for its whole life.
// So a new database is created by a short-lived child process; the server only ever opens an existing
// one, and stays several hundred MiB smaller.
//
// initdb is also most of a first start's time (2.5–3.5 s of CPU: it bootstraps every catalog), and every
// PGlite of one version makes the same cluster. So `npm run build` makes one and migrates it
// (buildClusterTemplate), and a first start copies it; the migrator then finds nothing to apply. Without a
// template for the installed PGlite and these migrations, a first start falls back to initdb. PGlite has no
// faster way of its own: its `loadDataDir` tarball is unpacked inside the WASM file system (about as slow as
// the open itself, and ~70 MiB more memory for good), and it cannot reuse compiled WASM across processes.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { access, cp, mkdir, readdir, readFile, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { defaultMigrationsDir, migrate, packageRoot, pgliteSession, readMigrations } from "./migrator";

/** PGlite options the server opens with: a smaller buffer pool than Postgres' default 128 MB (see below). */
export const PGLITE_START_PARAMS = [
  // Metadata is small and the data dir's files stay in the OS page cache anyway; 128 MB of buffers would
  // sit in the process' memory as WASM memory, which never shrinks.
  "-c",
  "shared_buffers=16MB",
];

const TEMPLATES_DIR = path.join("dist", "pglite-template");

export interface ClusterTemplateOptions {
  /** The package the template belongs to (default: this one). */
  root?: string;
  /** The migrations the template carries (default: the package's). */
  migrationsDir?: string;
}

/** Where the build leaves the cluster template: one per PGlite version and set of migrations. */
export async function clusterTemplateDir({ root = packageRoot(), migrationsDir = defaultMigrationsDir() }: ClusterTemplateOptions = {}): Promise<string> {
  const migrations = createHash("sha256")
    .update(readMigrations(migrationsDir).map((m) => `${m.name} ${m.checksum}\n`).join(""))
    .digest("hex")
    .slice(0, 16);
  return path.join(root, TEMPLATES_DIR, `${await pgliteVersion()}-${migrations}`);
}

/** Creates the database cluster at `dir` unless one is there already: a copy of the template if any, else initdb. */
export async function createEmbeddedCluster(dir: string, options: ClusterTemplateOptions = {}): Promise<void> {
  if (await isCluster(dir)) return;
  const template = await clusterTemplateDir(options);
  const copy = await isCluster(template);
  await makeInPlace(dir, (partial) => (copy ? cp(template, partial, { recursive: true }) : initdbInChild(partial)));
}

/**
 * Makes the migrated cluster template (unless it is there already) and drops the others, left by other
 * PGlite versions or migrations. Migrating it takes PGlite's memory here, which is fine in a build.
 */
export async function buildClusterTemplate(options: ClusterTemplateOptions = {}): Promise<string> {
  const template = await clusterTemplateDir(options);
  for (const entry of await readdir(path.dirname(template)).catch(() => [])) {
    if (entry !== path.basename(template)) await rm(path.join(path.dirname(template), entry), { recursive: true, force: true });
  }
  if (!(await isCluster(template))) {
    await rm(template, { recursive: true, force: true }); // whatever an interrupted build left
    await makeInPlace(template, async (partial) => {
      await initdbInChild(partial);
      const db = await PGlite.create(partial);
      try {
        await migrate(pgliteSession(db), options.migrationsDir);
      } finally {
        await db.close();
      }
    });
  }
  return template;
}

/**
 * Makes the cluster beside `dir`, then moves it into place (over `dir` if that is an empty folder): a
 * start interrupted half-way leaves no half-made cluster to be opened next time.
 */
async function makeInPlace(dir: string, make: (partial: string) => Promise<void>): Promise<void> {
  if ((await readdir(dir).catch(() => [])).length > 0) {
    throw new Error(`${dir} holds files but no database (no PG_VERSION): move them away to create one`);
  }
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  try {
    await make(partial);
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await rename(partial, dir);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

function isCluster(dir: string): Promise<boolean> {
  return access(path.join(dir, "PG_VERSION")).then(
    () => true,
    () => false,
  );
}

async function pgliteVersion(): Promise<string> {
  // The package's exports do not include its package.json: find it beside the resolved entry point.
  for (let dir = path.dirname(require.resolve("@electric-sql/pglite")); ; dir = path.dirname(dir)) {
    const manifest = await readFile(path.join(dir, "package.json"), "utf8").catch(() => null);
    if (manifest) return (JSON.parse(manifest) as { version: string }).version;
    if (path.dirname(dir) === dir) throw new Error("no package.json for @electric-sql/pglite");
  }
}

async function initdbInChild(dir: string): Promise<void> {
  const entry = pathToFileURL(require.resolve("@electric-sql/pglite")).href;
  const script = `import(${JSON.stringify(entry)}).then(async ({ PGlite }) => {
    const db = await PGlite.create(${JSON.stringify(dir)});
    await db.close();
  }).catch((err) => { console.error(err); process.exit(1); });`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`creating the embedded database in ${dir} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`)),
    );
  });
}
