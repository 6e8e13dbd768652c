// The report arithmetic of "what the grace period held back" (src/gc/report.ts): the no-grace plan less the
// due plan, summed over repositories, never negative, and said in the CLI's report.
import { formatReport, heldBackBy, planFigures, type GcReport } from "../../src/gc/report";
import { emptyRepositoryPlan, type RepositoryPlan } from "../../src/metadata/gc-mark";

const plan = (blobs: number, blobBytes: number, repositories: Array<Partial<RepositoryPlan>>) => ({
  blobs,
  blobBytes,
  repositories: new Map(repositories.map((r, i) => [i + 1, { ...emptyRepositoryPlan(), ...r }])),
});
const settings = { graceMs: 3_600_000, uploadTimeoutMs: 86_400_000 };

describe("planFigures", () => {
  it("sums manifests and uploads over repositories and takes the blobs as they are", () => {
    expect(
      planFigures(plan(3, 3000, [
        { manifests: 2, manifestBytes: 700, uploads: 1, uploadBytes: 50, links: 9, linkBytes: 999 },
        { manifests: 1, manifestBytes: 300 },
      ])),
    ).toEqual({ manifests: 3, manifestBytes: 1000, blobs: 3, blobBytes: 3000, uploads: 1, uploadBytes: 50 });
  });

  it("is all zeros for an empty plan", () => {
    expect(planFigures(plan(0, 0, []))).toEqual({ manifests: 0, manifestBytes: 0, blobs: 0, blobBytes: 0, uploads: 0, uploadBytes: 0 });
  });
});

describe("heldBackBy", () => {
  it("is what a run without grace would delete beyond what is due now, with the settings", () => {
    const noGrace = plan(5, 5000, [{ manifests: 3, manifestBytes: 900, uploads: 2, uploadBytes: 80 }, { manifests: 1, manifestBytes: 100 }]);
    const due = plan(2, 1500, [{ manifests: 1, manifestBytes: 400 }]);
    expect(heldBackBy(settings, noGrace, due)).toEqual({
      ...settings,
      manifests: 3,
      manifestBytes: 600,
      blobs: 3,
      blobBytes: 3500,
      uploads: 2,
      uploadBytes: 80,
    });
  });

  it("is nothing when everything is due (grace 0 or all old)", () => {
    const p = plan(2, 100, [{ manifests: 1, manifestBytes: 10 }]);
    expect(heldBackBy({ graceMs: 0, uploadTimeoutMs: 0 }, p, p)).toMatchObject({ manifests: 0, manifestBytes: 0, blobs: 0, blobBytes: 0, uploads: 0, uploadBytes: 0 });
  });

  it("never goes negative when a push or deletion between the two snapshots changed the figures", () => {
    const noGrace = plan(1, 100, [{ manifests: 1, manifestBytes: 10 }]);
    const due = plan(4, 900, [{ manifests: 2, manifestBytes: 50 }]);
    expect(heldBackBy(settings, noGrace, due)).toMatchObject({ manifests: 0, manifestBytes: 0, blobs: 0, blobBytes: 0 });
  });
});

describe("formatReport", () => {
  const report = (heldBack: GcReport["heldBack"]): GcReport => ({
    runId: 7,
    dryRun: true,
    status: "succeeded",
    trigger: "cli",
    options: { graceMs: 3_600_000, untagged: true, uploadTimeoutMs: 86_400_000, retention: true, batchSize: 500, batchPauseMs: 0 },
    startedAt: "2026-12-05T00:00:00.000Z",
    finishedAt: "2026-12-05T00:00:01.000Z",
    durationMs: 1000,
    phases: {},
    totals: { tags: 0, manifests: 0, manifestBytes: 0, links: 0, blobs: 0, blobBytes: 0, uploads: 0, uploadBytes: 0, orphanUploadDirs: 0, bytesFreed: 0, evictedImages: 0, evictedBytes: 0 },
    repositories: [],
    mirrorCache: null,
    heldBack,
    items: { tags: [], manifests: [], blobs: [], evicted: [], truncated: false },
    interruptedRuns: [],
    errors: [],
  });

  it("says what the grace held back, with the grace", () => {
    const text = formatReport(report({ ...settings, manifests: 1, manifestBytes: 512, blobs: 2, blobBytes: 3420, uploads: 0, uploadBytes: 0 }));
    expect(text).toContain("held back by the grace period (1h): 1 manifests (512 B), 2 blobs (3.34 KiB)");
  });

  it("says nothing of it when nothing was held back", () => {
    expect(formatReport(report({ ...settings, manifests: 0, manifestBytes: 0, blobs: 0, blobBytes: 0, uploads: 0, uploadBytes: 0 }))).not.toContain("held back");
  });
});
