import type { GcService as Collector } from "../gc/gc-service";
import type { GcReport as CollectorReport } from "../gc/report";
import { GcBusyError } from "../gc/gc-service";
import { DomainError } from "../kernel/errors";
import type { Actor } from "../events/event-bus";
import type { GcReport, GcRun, GcService as GcApi, StorageUsage } from "./gc-api";

/** The garbage collector (src/gc) in the shape the admin API and the web UI use (src/admin/gc-api.ts). */
export function gcApiOf(gc: Collector): GcApi {
  const collect = async (dryRun: boolean, actor: Actor): Promise<GcReport> => {
    try {
      return toApiReport(await gc.collect({ trigger: "api", dryRun, actor }));
    } catch (err) {
      if (err instanceof GcBusyError) throw new DomainError("Conflict", err.message);
      throw err;
    }
  };
  return {
    async usage(): Promise<StorageUsage> {
      const usage = await gc.usage();
      return {
        totalBytes: usage.total.storedBlobBytes,
        blobCount: usage.total.storedBlobs,
        repositories: usage.repositories.map((r) => ({ name: r.repository, bytes: r.blobBytes })),
      };
    },
    dryRun: (actor) => collect(true, actor),
    run: (actor) => collect(false, actor),
    async history(limit: number): Promise<GcRun[]> {
      const runs = await gc.listRuns(limit);
      return runs.map((run) => ({
        id: String(run.id),
        status: run.status === "succeeded" || run.status === "running" ? run.status : "failed",
        error: run.errors?.join("; ") || null,
        trigger: run.trigger,
        dryRun: run.dryRun,
        startedAt: run.startedAt.toISOString(),
        finishedAt: (run.finishedAt ?? run.startedAt).toISOString(),
        manifestsDeleted: run.manifestsDeleted,
        blobsDeleted: run.blobsDeleted,
        bytesFreed: run.bytesFreed,
      }));
    },
  };
}

function toApiReport(report: CollectorReport): GcReport {
  return {
    dryRun: report.dryRun,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    manifestsDeleted: report.totals.manifests,
    blobsDeleted: report.totals.blobs,
    bytesFreed: report.totals.bytesFreed,
    items: [
      ...report.items.manifests.map((m) => ({ kind: "manifest" as const, repository: m.repository, digest: m.digest, size: m.size })),
      ...report.items.blobs.map((b) => ({ kind: "blob" as const, digest: b.digest, size: b.size })),
    ],
  };
}
