// The benchmark harness keeps working: `npm run bench -- --quick` end to end (Berth on Postgres and on
// PGlite, the CNCF registry, skopeo, ceilings, CPU profiles) with the smallest settings. It asserts that
// every row was measured on every target with positive numbers — never how fast anything was.
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

interface Results {
  mode: string;
  targets: Array<{ id: string; role: string }>;
  rows: Array<{ id: string; unit: string; results: Record<string, { median: number | null }>; ratios: Record<string, number | null> }>;
  phases: Array<{ group: string; targets: Record<string, { peakRssMiB: number; serverCpuSeconds: number }> }>;
  goals: Array<{ name: string }>;
  memoryCheck: { targets: Record<string, { pushPeakRssMiB: number | null; pullPeakRssMiB: number | null }> } | null;
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
    expect(r.targets.map((t) => t.id)).toEqual(TARGETS);
    expect(r.rows.map((row) => row.id)).toEqual(QUICK_ROWS);
    for (const row of r.rows) {
      for (const t of TARGETS) expect({ row: row.id, target: t, median: row.results[t]?.median }).toEqual({ row: row.id, target: t, median: expect.any(Number) });
      for (const t of TARGETS) expect(row.results[t]!.median!).toBeGreaterThan(0);
      for (const t of ["berth-pg", "berth-embedded"]) expect(row.ratios[t]!).toBeGreaterThan(0);
    }
    expect(r.goals.length).toBe(6);
    for (const phase of r.phases) {
      for (const t of TARGETS) expect(phase.targets[t]!.peakRssMiB).toBeGreaterThan(0);
    }
    for (const t of TARGETS) {
      expect(r.memoryCheck!.targets[t]!.pushPeakRssMiB).toBeGreaterThan(0);
      expect(r.memoryCheck!.targets[t]!.pullPeakRssMiB).toBeGreaterThan(0);
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
