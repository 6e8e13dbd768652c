// `berth gc` (the compiled CLI, in a child process) killed with SIGKILL in the middle of its sweeps, over
// a generated registry: the next run marks the dead run interrupted, completes the job, and nothing
// reachable is missing — every tag pulls completely and every digest verifies.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../../src/config";
import { createDeps, type Deps } from "../../src/deps";
import { openDatabase } from "../../src/metadata/database";
import { startServer } from "../../src/server";
import { expectIntegrity, expectReachableBlobsStored, pullAndVerify } from "../support/gc-helpers";
import { generateRegistry, type GeneratedRegistry } from "../support/gc-generate";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

jest.setTimeout(300_000);

const MAIN = path.resolve(__dirname, "../../dist/main.js");

interface GcProcess {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `berth gc …`; `killWhen` sees each stderr progress line and returns true to SIGKILL the process. */
function runGc(env: NodeJS.ProcessEnv, args: string[], killWhen?: (line: string) => boolean): Promise<GcProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", [MAIN, "gc", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let pending = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      pending += c.toString();
      const lines = pending.split("\n");
      pending = lines.pop()!;
      if (killWhen && lines.some(killWhen)) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const progress = (phase: string, minDeleted: number) => (line: string) => {
  const m = new RegExp(`^gc: ${phase}: (\\d+) tags, (\\d+) manifests, (\\d+) links, (\\d+) blobs`).exec(line);
  if (!m) return false;
  const deleted = { manifests: Number(m[2]), links: Number(m[3]), blobs: Number(m[4]) }[phase] ?? 0;
  return deleted >= minDeleted;
};

async function verifyEverything(deps: Deps, base: string, generated: GeneratedRegistry): Promise<void> {
  await expectReachableBlobsStored(deps);
  await expectIntegrity(deps);
  // Every reachable blob's bytes still hash to its digest.
  const reachable = await deps.database.query<{ digest: string }>(
    `SELECT DISTINCT digest FROM repository_blob`,
  );
  for (const { digest } of reachable) {
    const hex = digest.slice("sha256:".length);
    const data = await readFile(path.join(deps.config.storage.root!, "blobs", "sha256", hex.slice(0, 2), hex));
    expect(`sha256:${createHash("sha256").update(data).digest("hex")}`).toBe(digest);
  }
  // Every tag still names the generated manifest, and pulls completely over HTTP.
  const tags = await deps.database.query<{ repository: string; tag: string; digest: string }>(
    `SELECT r.name AS repository, t.name AS tag, m.digest FROM tag t JOIN repository r ON r.id = t.repository_id
     JOIN manifest m ON m.id = t.manifest_id ORDER BY 1, 2`,
  );
  const key = (t: { repository: string; tag: string; digest: string }) => `${t.repository}:${t.tag}@${t.digest}`;
  expect(tags.map(key).sort()).toEqual(generated.tags.map(key).sort());
  for (const t of tags) await pullAndVerify(base, t.repository, t.tag);
}

/** Berth on the data dir and database the CLI used, to pull through the real HTTP API. */
async function serve(env: Record<string, string>): Promise<{ deps: Deps; base: string; stop(): Promise<void> }> {
  const config = parseConfig({
    listen: "127.0.0.1:0",
    dataDir: env.BERTH_DATA_DIR,
    logLevel: "silent",
    auth: { enabled: false },
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
  });
  const deps = await createDeps(config);
  const running = await startServer(deps);
  return { deps, base: `http://${running.address}`, stop: () => running.stop() };
}

describe.each([
  { database: "postgres" as const, images: 1600, blobs: 8000 },
  { database: "embedded" as const, images: 500, blobs: 2500 },
])("berth gc killed mid-sweep ($database)", ({ database, images, blobs }) => {
  let dataDir: string;
  let target: TestDatabase | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-gc-crash-"));
    target = database === "postgres" ? await createTestDatabase() : undefined;
    const configFile = path.join(dataDir, "berth.yaml");
    // Small batches with a pause between them: a sweep long enough to be caught in the middle.
    await writeFile(configFile, "gc:\n  batchSize: 20\n  batchPause: 15ms\nstorage:\n  fsync: false\n");
    env = { BERTH_DATA_DIR: dataDir, BERTH_CONFIG: configFile, ...(target ? { DATABASE_URL: target.url } : {}) };
  });
  afterAll(async () => {
    await target?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("the next run completes and nothing reachable is missing", async () => {
    const db = await openDatabase({ url: target?.url, dataDir });
    const generated = await generateRegistry(db, path.join(dataDir, "storage"), { repositories: 40, images, blobs, ageHours: 48 });
    await db.close();

    // Killed while deleting manifests, then while deleting blobs (bytes deleted, batch not committed).
    const first = await runGc(env, [], progress("manifests", 40));
    expect(first.signal).toBe("SIGKILL");
    const second = await runGc(env, [], progress("blobs", 100));
    expect(second.signal).toBe("SIGKILL");
    expect(second.stderr).toMatch(/^gc: blobs: /m);

    // The third run finishes, and says which runs it found dead.
    const third = await runGc(env, ["--json"]);
    expect({ code: third.code, stderr: third.stderr.slice(-500) }).toMatchObject({ code: 0 });
    const report = JSON.parse(third.stdout) as { runId: number; status: string; interruptedRuns: number[]; totals: Record<string, number> };
    expect(report.status).toBe("succeeded");
    expect(report.interruptedRuns).toHaveLength(1);

    const server = await serve(env);
    try {
      const runs = await server.deps.gc.listRuns();
      expect(runs.map((r) => r.status)).toEqual(["succeeded", "interrupted", "interrupted"]);
      // Across the three runs, exactly the garbage went, and the run rows (whose counters commit with
      // each batch) add up to it although two of the processes were killed.
      const sum = (k: "manifestsDeleted" | "blobsDeleted" | "linksDeleted") => runs.reduce((n, r) => n + r[k], 0);
      expect(sum("manifestsDeleted")).toBe(generated.expected.manifests);
      expect(sum("linksDeleted")).toBe(generated.expected.links);
      expect(sum("blobsDeleted")).toBe(generated.expected.blobs);
      expect(runs[1].manifestsDeleted + runs[2].manifestsDeleted).toBeGreaterThan(0);
      expect(runs[1].blobsDeleted).toBeGreaterThanOrEqual(100); // the second was killed well into its blob sweep
      const [left] = await server.deps.database.query<{ manifests: bigint; blobs: bigint }>(
        `SELECT (SELECT count(*) FROM manifest) AS manifests, (SELECT count(*) FROM blob) AS blobs`,
      );
      expect(Number(left.manifests)).toBe(generated.expected.keptManifests);
      expect(Number(left.blobs)).toBe(generated.expected.keptBlobs);
      await verifyEverything(server.deps, server.base, generated);
    } finally {
      await server.stop();
    }

    const fourth = await runGc(env, ["--json"]);
    expect(fourth.code).toBe(0);
    expect(JSON.parse(fourth.stdout).totals).toMatchObject({ manifests: 0, links: 0, blobs: 0 });
  });
});
