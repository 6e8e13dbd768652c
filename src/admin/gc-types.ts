// What the GC admin API answers, shared by the server (src/admin/gc-api.ts) and the web UI's client
// (web/src/api.ts), which imports these types only: keep this file free of imports.

export interface StorageUsage {
  /** Bytes of every distinct blob stored (each counted once, however many repositories link it). */
  totalBytes: number;
  blobCount: number;
  /** The largest repositories by the blobs linked into them (a shared blob counts in each). */
  repositories: Array<{ name: string; bytes: number }>;
}

export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** What was (or would be) deleted; may be truncated by the service. */
  items?: Array<{ kind: "manifest" | "blob"; repository?: string; digest: string; size: number }>;
}

export interface GcRun extends GcReport {
  id: string;
  status: "running" | "succeeded" | "failed";
  error?: string | null;
  trigger?: string;
}
