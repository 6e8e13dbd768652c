// What the GC admin API answers, shared by the server (src/admin/gc-api.ts) and the web UI's client
// (web/src/api.ts), which imports these types only: keep this file free of imports.

export interface StorageUsage {
  /** Bytes of every distinct blob stored (each counted once, however many repositories link it). */
  totalBytes: number;
  blobCount: number;
  /** The largest repositories by the blobs linked into them (a shared blob counts in each). */
  repositories: Array<{ name: string; bytes: number }>;
}

/** What the grace period kept back: garbage younger than the grace (uploads: idle less than the upload timeout). */
export interface GcHeldBack {
  graceMs: number;
  uploadTimeoutMs: number;
  /** The two durations as people write them ("1h", "24h"). */
  graceText: string;
  uploadTimeoutText: string;
  manifests: number;
  manifestBytes: number;
  blobs: number;
  blobBytes: number;
  uploads: number;
  uploadBytes: number;
}

export interface GcReport {
  /** The run's id in the history (its log is at /api/v1/gc/runs/{runId}/log). */
  runId?: string;
  dryRun: boolean;
  /** The settings the run used. */
  graceMs?: number;
  untagged?: boolean;
  /** Null when the run failed before it could tell. */
  heldBack?: GcHeldBack | null;
  startedAt: string;
  finishedAt: string;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** What was (or would be) deleted; may be truncated by the service. */
  items?: Array<{ kind: "manifest" | "blob"; repository?: string; digest: string; size: number }>;
}

/** One run-time setting: its value in force, the configured default, and where the value comes from. */
export interface GcSetting<T> {
  value: T;
  default: T;
  source: "config" | "ui";
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface GcSettings {
  /** Null: no scheduled collection. `error`: the stored schedule cannot be armed, so none runs. */
  schedule: GcSetting<string | null> & { error?: string };
  grace: GcSetting<number> & { text: string; defaultText: string };
  untagged: GcSetting<boolean>;
  /** When the schedule runs next on the replica that answered; null when none is armed. */
  nextRun: string | null;
}

/** PUT /api/v1/gc/settings: fields to change; null resets one to its configured default. */
export interface GcSettingsUpdate {
  schedule?: string | null;
  grace?: string | number | null;
  untagged?: boolean | null;
}

/** One line of a run's log (GET /api/v1/gc/runs/{id}/log): `digest` is the session id for an upload. */
export interface GcLogEntry {
  kind: "tag" | "manifest" | "link" | "blob" | "upload";
  repository: string | null;
  digest: string;
  tag: string | null;
  bytes: number;
}

export interface GcRun extends GcReport {
  id: string;
  status: "running" | "succeeded" | "failed";
  error?: string | null;
  trigger?: string;
}
