// A gc_run row (src/metadata/gc-runs.ts) as the collector's own types describe it.
import type { GcRunRow } from "../metadata/gc-runs";
import type { GcReport, RunStatus, RunTrigger } from "./report";

export interface GcRunRecord extends Omit<GcRunRow, "trigger" | "status" | "report"> {
  trigger: RunTrigger;
  status: RunStatus | "running";
  report: GcReport | null;
}

export type RunProgress = { phase: string } & Pick<
  GcRunRecord,
  "tagsDeleted" | "manifestsDeleted" | "linksDeleted" | "blobsDeleted" | "uploadsDeleted" | "bytesFreed" | "imagesEvicted"
>;

/** Only this service writes gc_run, with these types. */
export function runRecord(row: GcRunRow): GcRunRecord {
  return row as GcRunRecord;
}
