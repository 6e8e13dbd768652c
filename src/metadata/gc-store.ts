// Everything garbage collection reads and writes, as one interface for src/gc: the SQL is in the gc-*.ts
// modules beside this one (plain SQL on the driver: locks, SKIP LOCKED, recursive CTEs, temp tables).
import type { Digest } from "../kernel/digest";
import type { ReleaseLock } from "./gc-lock";
import { evictBatchOf, mirrorCacheBytes, planEviction, type CacheChoice, type CacheSnapshot, type EvictionDecision, type EvictionPlan, type EvictionResult, type MirrorCache } from "./gc-eviction";
import { mark, type MarkInput, type Plan } from "./gc-mark";
import { deleteTagsIfUnchanged, repositoriesOf, tagsOf, type TagDeletion, type TaggedManifest } from "./gc-retention";
import { GcRunStore, type GcRunRow } from "./gc-runs";
import type { GcDatabase } from "./gc-sql";
import {
  databaseNow,
  gcClock,
  liveUploadIds,
  repositoryNames,
  sweepBlobBatch,
  sweepLinkBatch,
  sweepManifestBatch,
  sweepUploadBatch,
  type GcClock,
  type StaleUpload,
} from "./gc-sweep";
import { storageUsage, type StorageUsage } from "./storage-usage";

export interface GcStore {
  readonly kind: "postgres" | "embedded";
  /** The collector lock if free, else null (gc-lock.ts). */
  tryLockCollector(): Promise<ReleaseLock | null>;
  clock(graceMs: number, uploadTimeoutMs: number): Promise<GcClock>;
  now(): Promise<Date>;

  /** gc_run: one row per collection or dry run (gc-runs.ts). */
  readonly runs: GcRunStore;

  /** Repositories by name; `project` limits them to one project. */
  repositoriesOf(project?: string): Promise<Array<{ id: number; name: string }>>;
  repositoryNames(ids: number[]): Promise<Array<{ id: number; name: string }>>;
  /** Every tag of these repositories, with its manifest. */
  tagsOf(repositoryIds: number[]): Promise<TaggedManifest[]>;
  /** Deletes the tags still as planned, in one transaction; with `runId`, counted in that run. */
  deleteTagsIfUnchanged<T extends TagDeletion>(batch: T[], runId?: number): Promise<T[]>;

  /** Bytes the mirror cache takes now. */
  mirrorCacheBytes(cache: MirrorCache): Promise<number>;
  planEviction(cache: MirrorCache, cutoff: Date, choose: (snapshot: CacheSnapshot) => CacheChoice): Promise<EvictionPlan>;
  /** One repository's batch of evictions, under its row lock; with `runId`, counted in that run. */
  evictBatch(repositoryId: number, batch: EvictionDecision[], cutoff: Date, runId?: number): Promise<EvictionResult[]>;

  /** Everything a collection with these settings would delete now, from one snapshot. */
  mark(input: MarkInput): Promise<Plan>;
  sweepManifests(runId: number, repositoryId: number, cutoff: Date, batch: number): Promise<Array<{ id: number; digest: string; size: number }>>;
  sweepLinks(runId: number, repositoryId: number, cutoff: Date, batch: number): Promise<Array<{ digest: string; size: number }>>;
  sweepBlobs(
    runId: number,
    after: string,
    cutoff: Date,
    batch: number,
    deleteBytes: (digests: Digest[]) => Promise<void>,
  ): Promise<{ deleted: Array<{ digest: string; size: number }>; last: string; seen: number }>;
  sweepUploads(runId: number, uploadCutoff: Date, batch: number, discard: (stale: StaleUpload[]) => Promise<void>): Promise<StaleUpload[]>;
  /** Upload ids that a session row or a live mirror fetch still uses. */
  liveUploadIds(ids: string[]): Promise<Set<string>>;

  /** Storage use per repository, per project and in total. */
  usage(): Promise<StorageUsage>;
}

export type { GcRunRow, StaleUpload };

export class SqlGcStore implements GcStore {
  readonly kind: GcStore["kind"];
  readonly runs: GcRunStore;

  constructor(private readonly db: GcDatabase) {
    this.kind = db.kind;
    this.runs = new GcRunStore(db);
  }

  tryLockCollector = () => this.db.tryLockCollector();
  clock = (graceMs: number, uploadTimeoutMs: number) => gcClock(this.db, graceMs, uploadTimeoutMs);
  now = () => databaseNow(this.db);
  repositoriesOf = (project?: string) => repositoriesOf(this.db, project);
  repositoryNames = (ids: number[]) => repositoryNames(this.db, ids);
  tagsOf = (repositoryIds: number[]) => tagsOf(this.db, repositoryIds);
  deleteTagsIfUnchanged = <T extends TagDeletion>(batch: T[], runId?: number) => deleteTagsIfUnchanged(this.db, batch, runId);
  mirrorCacheBytes = (cache: MirrorCache) => mirrorCacheBytes(this.db, cache);
  planEviction = (cache: MirrorCache, cutoff: Date, choose: (snapshot: CacheSnapshot) => CacheChoice) => planEviction(this.db, cache, cutoff, choose);
  evictBatch = (repositoryId: number, batch: EvictionDecision[], cutoff: Date, runId?: number) => evictBatchOf(this.db, repositoryId, batch, cutoff, runId);
  mark = (input: MarkInput) => mark(this.db, input);
  sweepManifests = (runId: number, repositoryId: number, cutoff: Date, batch: number) => sweepManifestBatch(this.db, runId, repositoryId, cutoff, batch);
  sweepLinks = (runId: number, repositoryId: number, cutoff: Date, batch: number) => sweepLinkBatch(this.db, runId, repositoryId, cutoff, batch);
  sweepBlobs = (runId: number, after: string, cutoff: Date, batch: number, deleteBytes: (digests: Digest[]) => Promise<void>) =>
    sweepBlobBatch(this.db, runId, after, cutoff, batch, deleteBytes);
  sweepUploads = (runId: number, uploadCutoff: Date, batch: number, discard: (stale: StaleUpload[]) => Promise<void>) =>
    sweepUploadBatch(this.db, runId, uploadCutoff, batch, discard);
  liveUploadIds = (ids: string[]) => liveUploadIds(this.db, ids);
  usage = () => storageUsage(this.db);
}
