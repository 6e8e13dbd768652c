import type { GcService as Collector } from "../gc/gc-service";
import type { GcReport as CollectorReport, HeldBack } from "../gc/report";
import { formatDuration } from "../config/duration";
import type { GcRunRecord } from "../gc/runs";
import { GcBusyError } from "../gc/gc-service";
import { DomainError } from "../kernel/errors";
import type { Actor } from "../events/event-bus";
import type { GcHeldBack, GcLogEntry, GcReport, GcRun, GcService as GcApi, GcSettings, StorageUsage } from "./gc-api";

/** Log lines read from the database per page while a log downloads. */
const LOG_PAGE = 1000;

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
  const settings = (): GcSettings => ({ ...gc.settings.view(), nextRun: gc.nextScheduledRun()?.toISOString() ?? null });
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
      return (await gc.listRuns(limit)).map(toApiRun);
    },
    async log(runId: number): Promise<AsyncIterable<GcLogEntry[]> | null> {
      if (!(await gc.getRun(runId))) return null;
      return (async function* () {
        let after = 0;
        for (;;) {
          const page = await gc.logPage(runId, after, LOG_PAGE);
          if (page.entries.length) yield page.entries;
          if (page.entries.length < LOG_PAGE) return;
          after = page.last;
        }
      })();
    },
    settings: async () => settings(),
    async updateSettings(input, by) {
      const changes = await gc.settings.update(input, by);
      return { settings: settings(), changes };
    },
  };
}

/**
 * A run as the history lists it. A dry run deletes nothing, so its row's counters stay zero: its figures
 * (what it would delete) come from its stored report. A real run's counters are exact even if it was
 * killed before writing its report.
 */
function toApiRun(run: GcRunRecord): GcRun {
  const report = run.report;
  const wouldDelete = run.dryRun && report;
  return {
    id: String(run.id),
    runId: String(run.id),
    status: run.status === "succeeded" || run.status === "running" ? run.status : "failed",
    error: run.errors?.join("; ") || null,
    trigger: run.trigger,
    dryRun: run.dryRun,
    startedAt: run.startedAt.toISOString(),
    finishedAt: (run.finishedAt ?? run.startedAt).toISOString(),
    manifestsDeleted: wouldDelete ? report.totals.manifests : run.manifestsDeleted,
    blobsDeleted: wouldDelete ? report.totals.blobs : run.blobsDeleted,
    bytesFreed: wouldDelete ? report.totals.bytesFreed : run.bytesFreed,
    graceMs: report?.options.graceMs ?? (run.options as { graceMs?: number }).graceMs,
    untagged: report?.options.untagged ?? (run.options as { untagged?: boolean }).untagged,
    heldBack: heldBackOf(report?.heldBack),
  };
}

/** Runs recorded before held-back figures existed have none. */
function heldBackOf(held: HeldBack | null | undefined): GcHeldBack | null {
  return held ? { ...held, graceText: formatDuration(held.graceMs), uploadTimeoutText: formatDuration(held.uploadTimeoutMs) } : null;
}

function toApiReport(report: CollectorReport): GcReport {
  return {
    runId: String(report.runId),
    dryRun: report.dryRun,
    graceMs: report.options.graceMs,
    untagged: report.options.untagged,
    heldBack: heldBackOf(report.heldBack),
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
