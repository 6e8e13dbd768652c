// What a collection (or dry run) reports, and its plain-text rendering for the CLI.
import { formatDuration } from "../config/duration";
import { formatBytes } from "../config/byte-size";
import type { Plan, RepositoryPlan } from "../metadata/gc-mark";

/** "cache-limit": the server started it because a mirror fetch took the cache over mirror.cacheMaxBytes. */
export type RunTrigger = "cli" | "schedule" | "api" | "cache-limit";
export type RunStatus = "succeeded" | "failed" | "interrupted";

/** Per repository: what was (or, in a dry run, would be) deleted there. */
export interface RepositoryReport extends RepositoryPlan {
  repository: string;
  /** Tags deleted by retention rules. */
  tags: number;
}

export interface GcTotals {
  tags: number;
  manifests: number;
  manifestBytes: number;
  links: number;
  /** Blobs whose bytes were deleted from storage: each counted once, however many repositories had it. */
  blobs: number;
  blobBytes: number;
  uploads: number;
  uploadBytes: number;
  /** Upload folders in storage without a session row (e.g. a monolithic upload cut off by a crash). */
  orphanUploadDirs: number;
  /** Storage bytes freed: blobs plus partial uploads (manifests live in the database). */
  bytesFreed: number;
  /** Mirrored images evicted because the cache was over its limit (their tags and manifests are counted above). */
  evictedImages: number;
  /** Cache bytes those evictions free, as planned; the blob sweep deletes them. */
  evictedBytes: number;
}

/**
 * Garbage the grace period kept this time: what a run with no grace (and no upload timeout) would also
 * delete now. It becomes due once it is older than the grace (uploads: idle for longer than the timeout).
 */
export interface HeldBack {
  graceMs: number;
  uploadTimeoutMs: number;
  manifests: number;
  manifestBytes: number;
  blobs: number;
  blobBytes: number;
  uploads: number;
  uploadBytes: number;
}

/** A plan's figures summed over its repositories. */
export function planFigures(plan: Pick<Plan, "repositories" | "blobs" | "blobBytes">): Omit<HeldBack, "graceMs" | "uploadTimeoutMs"> {
  const f = { manifests: 0, manifestBytes: 0, blobs: plan.blobs, blobBytes: plan.blobBytes, uploads: 0, uploadBytes: 0 };
  for (const r of plan.repositories.values()) {
    f.manifests += r.manifests;
    f.manifestBytes += r.manifestBytes;
    f.uploads += r.uploads;
    f.uploadBytes += r.uploadBytes;
  }
  return f;
}

/**
 * What the grace held back: the no-grace plan less the due plan. They are two snapshots, so a deletion or
 * push between them could make a difference negative; it is reported as none.
 */
export function heldBackBy(
  settings: Pick<HeldBack, "graceMs" | "uploadTimeoutMs">,
  noGrace: Pick<Plan, "repositories" | "blobs" | "blobBytes">,
  due: Pick<Plan, "repositories" | "blobs" | "blobBytes">,
): HeldBack {
  const all = planFigures(noGrace);
  const now = planFigures(due);
  const held = { ...settings } as HeldBack;
  for (const key of Object.keys(all) as Array<keyof typeof all>) held[key] = Math.max(0, all[key] - now[key]);
  return held;
}

/** The mirror cache as the run found it; null when no limit is configured. */
export interface MirrorCacheReport {
  limitBytes: number;
  targetBytes: number;
  bytesBefore: number;
}

export interface GcReport {
  runId: number;
  dryRun: boolean;
  status: RunStatus;
  trigger: RunTrigger;
  options: GcRunOptions;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Time per phase, in milliseconds. */
  phases: Record<string, number>;
  totals: GcTotals;
  repositories: RepositoryReport[];
  mirrorCache: MirrorCacheReport | null;
  /** Null when the run failed before its mark phase. */
  heldBack: HeldBack | null;
  /** The first items of each kind (ITEM_LIMIT), for review; `truncated` when there were more. */
  items: {
    tags: Array<{ repository: string; tag: string; digest: string }>;
    manifests: Array<{ repository: string; digest: string; size: number }>;
    blobs: Array<{ digest: string; size: number }>;
    /** Evicted mirrored images, least recently pulled first. */
    evicted: Array<{ repository: string; digest: string; tags: string[]; lastPulledAt: string; bytes: number }>;
    truncated: boolean;
  };
  /** Earlier runs found still marked running (their collector died) and marked interrupted. */
  interruptedRuns: number[];
  errors: string[];
}

export interface GcRunOptions {
  graceMs: number;
  untagged: boolean;
  uploadTimeoutMs: number;
  retention: boolean;
  batchSize: number;
  batchPauseMs: number;
}

export const ITEM_LIMIT = 1000;

/** The report as a person reads it at a terminal. */
export function formatReport(r: GcReport): string {
  const t = r.totals;
  const verb = r.dryRun ? "would delete" : "deleted";
  const lines = [
    `garbage collection ${r.dryRun ? "dry run " : ""}#${r.runId}: ${r.status} in ${(r.durationMs / 1000).toFixed(2)} s ` +
      `(grace ${formatDuration(r.options.graceMs)}, untagged manifests ${r.options.untagged ? "collected" : "kept"}, ` +
      `retention ${r.options.retention ? "applied" : "skipped"})`,
    `  ${verb}: ${t.tags} tags (retention), ${t.manifests} manifests (${formatBytes(t.manifestBytes)}), ` +
      `${t.links} repository links, ${t.blobs} blobs (${formatBytes(t.blobBytes)}), ` +
      `${t.uploads} stale uploads (${formatBytes(t.uploadBytes)})` +
      (t.orphanUploadDirs ? `, ${t.orphanUploadDirs} orphaned upload folders` : ""),
    `  storage ${r.dryRun ? "to free" : "freed"}: ${formatBytes(t.bytesFreed)}`,
  ];
  const held = r.heldBack;
  if (held && (held.manifests || held.blobs || held.uploads)) {
    lines.push(
      `  held back by the grace period (${formatDuration(held.graceMs)}): ${held.manifests} manifests (${formatBytes(held.manifestBytes)}), ` +
        `${held.blobs} blobs (${formatBytes(held.blobBytes)}), ${held.uploads} uploads younger than the upload timeout ` +
        `${formatDuration(held.uploadTimeoutMs)} (${formatBytes(held.uploadBytes)})`,
    );
  }
  const cache = r.mirrorCache;
  if (cache) {
    lines.push(
      `  mirror cache: ${formatBytes(cache.bytesBefore)} of ${formatBytes(cache.limitBytes)}` +
        (t.evictedImages ? `; ${r.dryRun ? "would evict" : "evicted"} ${t.evictedImages} least recently pulled images (${formatBytes(t.evictedBytes)})` : ""),
    );
  }
  if (r.repositories.length) {
    lines.push("  per repository:");
    for (const repo of r.repositories) {
      const parts = [
        repo.tags && `${repo.tags} tags`,
        repo.manifests && `${repo.manifests} manifests`,
        repo.links && `${repo.links} links (${formatBytes(repo.linkBytes)})`,
        repo.uploads && `${repo.uploads} uploads (${formatBytes(repo.uploadBytes)})`,
      ].filter(Boolean);
      lines.push(`    ${repo.repository}: ${parts.join(", ")}`);
    }
  }
  if (r.dryRun && r.items.tags.length) {
    lines.push("  tags retention would delete:");
    for (const tag of r.items.tags) lines.push(`    ${tag.repository}:${tag.tag} (${tag.digest})`);
  }
  if (r.dryRun && r.items.evicted.length) {
    lines.push("  images eviction would remove:");
    for (const e of r.items.evicted) lines.push(`    ${e.repository}@${e.digest} ${e.tags.join(", ")} (last pulled ${e.lastPulledAt}, ${formatBytes(e.bytes)})`);
  }
  if (r.interruptedRuns.length) lines.push(`  earlier runs found interrupted: ${r.interruptedRuns.map((id) => `#${id}`).join(", ")}`);
  for (const e of r.errors) lines.push(`  error: ${e}`);
  return lines.join("\n");
}
