// The benchmark harness keeps working: `npm run bench -- --quick` end to end (Berth on Postgres and on
// PGlite, the CNCF registry, skopeo, ceilings, CPU profiles; the mirror suite against docker-registry in
// proxy mode) with the smallest settings. It asserts that every row was measured on every target with
// positive numbers, and that Berth's mirrors fetched every blob from upstream once — never how fast
// anything was.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

const QUICK_ROWS = [
  "blob-push-64KiB",
  "blob-push-1MiB",
  "blob-push-chunked-2MiB",
  "blob-pull-64KiB",
  "blob-pull-1MiB",
  "blob-range",
  ...["put", "get-tag", "get-digest"].flatMap((k) => [1, 8, 32].map((c) => `manifest-${k}-c${c}`)),
  "small-blobs",
  "head-blob-c32",
  "skopeo-push",
  "skopeo-pull",
  "big-push",
  "big-pull",
];
const TARGETS = ["cncf", "berth-pg", "berth-embedded"];
const MIRROR_ROWS = ["mirror-cold-pull", "mirror-warm-pull", "mirror-cold-20"];
const MIRROR_TARGETS = ["cncf-proxy", "berth-mirror", "berth-mirror-embedded"];

interface Suite {
  name: string;
  targets: Array<{ id: string; role: string }>;
  rows: Array<{
    id: string;
    unit: string;
    results: Record<string, { median: number | null }>;
    ratios: Record<string, number | null>;
    upstream?: Record<string, { blobs: number; blobGets: number; maxGetsPerBlob: number }>;
  }>;
  phases: Array<{ group: string; targets: Record<string, { peakRssMiB: number; serverCpuSeconds: number }> }>;
  goals: Array<{ name: string }>;
  memoryCheck: { targets: Record<string, { pushPeakRssMiB: number | null; pullPeakRssMiB: number | null }> } | null;
}

interface Results {
  mode: string;
  suites: Suite[];
  ceilings: Array<{ id: string; value: number | null; note?: string }>;
  profiles: Array<{ id: string; busyMs: number; functions: unknown[] }>;
  errors: string[];
}

describe("npm run bench -- --quick", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "berth-bench-smoke-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Every row measured on every target, with positive values and ratios. */
  function expectMeasured(suite: Suite, targets: string[]): void {
    expect(suite.targets.map((t) => t.id)).toEqual(targets);
    for (const row of suite.rows) {
      for (const t of targets) expect({ row: row.id, target: t, median: row.results[t]?.median }).toEqual({ row: row.id, target: t, median: expect.any(Number) });
      for (const t of targets) expect(row.results[t]!.median!).toBeGreaterThan(0);
      for (const t of targets.slice(1)) expect(row.ratios[t]!).toBeGreaterThan(0);
    }
    for (const phase of suite.phases) {
      for (const t of targets) expect(phase.targets[t]!.peakRssMiB).toBeGreaterThan(0);
    }
  }

  it("measures every row on every target and writes the JSON", async () => {
    const out = path.join(dir, "quick.json");
    const args = ["bench/main.ts", "--quick", "--out", out];
    // Reuse the run's Postgres server (started by the jest globalSetup) instead of starting another.
    if (process.env.BERTH_TEST_PG_URL) args.push("--postgres-url", process.env.BERTH_TEST_PG_URL);
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(TSX, args, { cwd: ROOT, timeout: 170_000, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }),
      );
    });
    if (code !== 0) throw new Error(`bench exited with ${code}:\n${stderr.slice(-6000)}`);

    const r = JSON.parse(await readFile(out, "utf8")) as Results;
    expect(r.mode).toBe("quick");
    expect(r.errors).toEqual([]);
    expect(r.suites.map((s) => s.name)).toEqual(["core", "mirror"]);
    const [core, mirror] = r.suites as [Suite, Suite];

    expect(core.rows.map((row) => row.id)).toEqual(QUICK_ROWS);
    expectMeasured(core, TARGETS);
    expect(core.goals.length).toBe(6);
    for (const t of TARGETS) {
      expect(core.memoryCheck!.targets[t]!.pushPeakRssMiB).toBeGreaterThan(0);
      expect(core.memoryCheck!.targets[t]!.pullPeakRssMiB).toBeGreaterThan(0);
    }

    expect(mirror.rows.map((row) => row.id)).toEqual(MIRROR_ROWS);
    expectMeasured(mirror, MIRROR_TARGETS);
    expect(mirror.goals).toEqual([]);
    for (const row of mirror.rows) {
      for (const t of MIRROR_TARGETS) expect(row.upstream?.[t]?.blobs).toBeGreaterThan(0);
      // Cold pulls, alone or 20 at once, fetch each blob from upstream exactly once; warm pulls not at all.
      const once = row.id === "mirror-warm-pull" ? 0 : 1;
      for (const t of ["berth-mirror", "berth-mirror-embedded"]) {
        expect({ row: row.id, target: t, max: row.upstream![t]!.maxGetsPerBlob, gets: row.upstream![t]!.blobGets }).toEqual({ row: row.id, target: t, max: once, gets: once * row.upstream![t]!.blobs });
      }
    }
    for (const c of r.ceilings) {
      // O_DIRECT is not available on every filesystem (tmpfs): then the value is null and says why.
      if (c.id === "disk-read-direct" && c.value === null) expect(c.note).toBeTruthy();
      else expect(c.value).toBeGreaterThan(0);
    }
    expect(r.profiles.map((p) => p.id)).toEqual(["manifest-get", "head-blob", "blob-push", "blob-pull", "manifest-put"]);
    for (const p of r.profiles) {
      expect(p.busyMs).toBeGreaterThan(0);
      expect(p.functions.length).toBeGreaterThan(0);
    }
  }, 180_000);
});
