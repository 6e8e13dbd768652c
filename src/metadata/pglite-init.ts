// Creating an embedded database (PGlite's initdb) grows the WASM memory to ~600 MiB, and WASM memory is
// never given back: a server that created its database in-process would carry that for its whole life.
// So a new database is created by a short-lived child process; the server only ever opens an existing
// one, and stays several hundred MiB smaller.
import { spawn } from "node:child_process";
import { access } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** PGlite options the server opens with: a smaller buffer pool than Postgres' default 128 MB (see below). */
export const PGLITE_START_PARAMS = [
  // Metadata is small and the data dir's files stay in the OS page cache anyway; 128 MB of buffers would
  // sit in the process' memory as WASM memory, which never shrinks.
  "-c",
  "shared_buffers=16MB",
];

/** Creates the database cluster at `dir` in a child process, unless one is there already. */
export async function createEmbeddedCluster(dir: string): Promise<void> {
  if (await access(path.join(dir, "PG_VERSION")).then(() => true, () => false)) return;
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
