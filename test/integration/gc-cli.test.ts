// `berth gc` as users run it (the compiled dist/main.js), on the embedded database of a stopped server.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { openDatabase } from "../../src/metadata/database";
import { generateRegistry } from "../support/gc-generate";
import { freePort } from "../support/free-port";

const MAIN = path.resolve(__dirname, "../../dist/main.js");
const run = promisify(execFile);

jest.setTimeout(180_000);

describe("berth gc", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-gc-cli-"));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  test("dry run, collection and an empty second run on the embedded database while the server is stopped", async () => {
    const db = await openDatabase({ dataDir });
    const generated = await generateRegistry(db, path.join(dataDir, "storage"), { repositories: 4, images: 40, blobs: 200, ageHours: 3 });
    await db.close();
    const env = { ...process.env, BERTH_STORAGE_FSYNC: "false" };

    const dry = await run("node", [MAIN, "gc", "--dry-run", "--data-dir", dataDir], { env });
    expect(dry.stdout).toMatch(/^garbage collection dry run #1: succeeded/);
    expect(dry.stdout).toContain(`would delete: 0 tags (retention), ${generated.expected.manifests} manifests`);
    expect(dry.stdout).toContain(`${generated.expected.blobs} blobs`);
    expect(dry.stdout).toMatch(/per repository:\n {4}gen0\/repo-0: /);

    // A grace longer than the registry's age spares everything; --no-untagged keeps the dangling manifests.
    const spared = JSON.parse((await run("node", [MAIN, "gc", "--grace", "4h", "--json", "--data-dir", dataDir], { env })).stdout);
    expect(spared.totals).toMatchObject({ manifests: 0, blobs: 0 });
    const keep = await run("node", [MAIN, "gc", "--no-untagged", "--data-dir", dataDir], { env });
    expect(keep.stdout).toMatch(/untagged manifests kept/);
    expect(keep.stdout).toContain("deleted: 0 tags (retention), 0 manifests");

    const real = await run("node", [MAIN, "gc", "--grace=1h", "--json", "--data-dir", dataDir], { env });
    const report = JSON.parse(real.stdout);
    expect(report).toMatchObject({ dryRun: false, status: "succeeded", trigger: "cli", options: { graceMs: 3_600_000 } });
    expect(report.totals.manifests).toBe(generated.expected.manifests);
    expect(report.totals.blobs + keepBlobs(keep.stdout)).toBe(generated.expected.blobs);
    expect(real.stderr).toMatch(/^gc: blobs: /m); // progress on stderr

    const again = JSON.parse((await run("node", [MAIN, "gc", "--json", "--data-dir", dataDir], { env })).stdout);
    expect(again.totals).toMatchObject({ manifests: 0, links: 0, blobs: 0 });
  });

  test("refuses to run on an embedded database a server has open, and says what to do", async () => {
    const port = await freePort();
    const server = spawn("node", [MAIN, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout.on("data", (c: Buffer) => c.toString().includes("Berth listening") && resolve());
        server.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
      });
      const err = await run("node", [MAIN, "gc", "--data-dir", dataDir]).catch((e: { code: number; stderr: string }) => e);
      expect(err).toMatchObject({ code: 1, stderr: expect.stringMatching(/in use by process \d+.*Stop the server first, or let the server collect on its schedule/) });
    } finally {
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
    }
  });

  test.each([
    [["gc", "--grace"], /Option '--grace <value>' argument missing/],
    [["gc", "--grace", "soon"], /--grace: invalid duration "soon"/],
    [["gc", "--frobnicate"], /Unknown option '--frobnicate'/],
    [["gc", "--dry-run=yes"], /Option '--dry-run' does not take an argument/],
    [["--dry-run", "gc"], /unknown option --dry-run/],
    [["serve", "--dry-run"], /unknown option --dry-run/],
  ])("usage errors: %j", async (args, message) => {
    await expect(run("node", [MAIN, ...args, "--data-dir", dataDir])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(message) });
  });

  test("help lists the gc options", async () => {
    const { stdout: overview } = await run("node", [MAIN, "--help"]);
    expect(overview).toMatch(/gc +collect garbage now/);
    const { stdout } = await run("node", [MAIN, "gc", "--help"]);
    for (const flag of ["--dry-run", "--grace D", "--no-untagged", "--no-retention", "--json"]) expect(stdout).toContain(flag);
  });
});

/** Blobs the --no-untagged run already deleted (strays), read from its summary line. */
function keepBlobs(stdout: string): number {
  return Number(/repository links, (\d+) blobs/.exec(stdout)![1]);
}

