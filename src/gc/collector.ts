import type { Logger } from "pino";
import { emptyRepositoryPlan, type Plan, type RepositoryPlan } from "../metadata/gc-mark";
import type { GcStore, StaleUpload } from "../metadata/gc-store";
import { blobPath, uploadDir, uploadPath } from "../registry/paths";
import type { StorageDriver } from "../storage/driver";
import { applyEviction, planEviction, type EvictionDecision, type EvictionPlan, type EvictionResult, type MirrorCache } from "./eviction";
import { heldBackBy, ITEM_LIMIT, type GcReport, type GcRunOptions, type GcTotals, type RunStatus, type RunTrigger } from "./report";
import { applyRetention, planRetention, type RetentionDecision } from "./retention";
import type { CompiledRules } from "./live-rules";
import type { RunProgress } from "./runs";

/**
 * The garbage collector: mark & sweep driven by the metadata in Postgres (storage is never listed to
 * decide what is live), online, while pushes and pulls go on.
 *
 * Garbage, each older than the grace period (counted from its push, or its blob's last touch):
 *  1. dangling manifests: unreachable from any tag. A kept manifest keeps its index children, its subject
 *     (a kept signature keeps what it signs) and its referrers (a kept image keeps its signatures and
 *     SBOMs), transitively (src/metadata/gc-mark.ts, keptCte); so referrers of a deleted manifest go with it.
 *  2. repository links (repository_blob) that no manifest of that repository references;
 *  3. blobs left with no link and referenced by no manifest: their row and their bytes;
 *  4. upload sessions idle for longer than the upload timeout, with their partial data (through the
 *     driver's writer cancel, which for S3 aborts the multipart upload), and upload folders whose session
 *     row is gone (a monolithic upload cut off by a crash) unless a live mirror fetch is writing them.
 * Retention rules run first and only delete tags; what they untag becomes garbage of kind 1. Then, when
 * the mirror cache is over its limit, eviction deletes the least recently pulled mirrored images (their
 * tags and manifests, eviction.ts), so the sweep below removes their links and blobs. The SQL of every
 * phase is in src/metadata/gc-*.ts.
 *
 * RACE SAFETY. The mark phase only plans (and makes the dry-run report). Every deletion happens in a
 * small batch transaction that first takes row locks and then re-checks its condition in a *new
 * statement*: under READ COMMITTED each statement gets a fresh snapshot, so the re-check sees everything
 * that committed before the locks were granted, and nothing can commit against the locked rows until
 * the batch commits. (A single DELETE … WHERE NOT EXISTS is not enough: after waiting for a row lock,
 * Postgres re-checks only the locked row, with subqueries still on the old snapshot.) What each lock covers:
 *
 *  - Manifests and links of repository R are swept holding R's repository row FOR UPDATE. Every manifest
 *    PUT begins by taking that row FOR KEY SHARE (the SQL function berth_put_manifest), and every
 *    insert of a tag, manifest or link of R takes a key-share lock on it for its foreign key; so no push
 *    to R interleaves with a sweep batch of R (while pushes to R, sharing the row, go side by side). A PUT that references blob X via link (R, X), which it holds FOR SHARE,
 *    either committed first — and the batch's re-check sees its reference and keeps the link — or it
 *    waits, then finds the link gone and answers MANIFEST_BLOB_UNKNOWN. A manifest PUT referencing a blob
 *    and a sweep deleting it cannot both succeed. Likewise for a tag moved onto a dangling manifest or an
 *    index adopting one as a child: the kept set is recomputed under the lock, per batch.
 *  - A blob's row and bytes are deleted holding the blob row FOR UPDATE (SKIP LOCKED: a blob in use at
 *    this instant is left for the next run), and the bytes are deleted *before* the batch commits.
 *    Everything that makes a blob readable holds that same row lock until it commits: publishing an
 *    upload (publishBlob upserts the row, moves the bytes into place and links them in one transaction),
 *    mounting (FOR NO KEY UPDATE of the row), any link insert (foreign key). So a re-push of X racing its
 *    deletion either waits until the collector has deleted the old bytes and row and then writes fresh
 *    ones, or locks first, and the collector's re-check finds the new link and skips X. Bytes are never
 *    deleted after a new upload has put them in place.
 *  - Touches: upload, mount and re-link set blob.last_touched_at; a HEAD or GET of a blob sets it when
 *    it is older than a quarter of the configured grace period (touchIntervalFor), so reads write at
 *    most once per blob and interval. Link and blob sweeps spare blobs touched after the cutoff, so a
 *    pusher that HEADs an old layer, skips uploading it and PUTs its manifest within ¾ of the grace
 *    period finds it still linked. The locks make this a matter of liveness, not safety: even with grace
 *    0 a push can be refused (and retried), never left pointing at deleted bytes.
 *  - Not locked: a new referrer may name a subject being deleted (the OCI spec allows referrers of
 *    missing subjects); it is then an orphan and goes in a later run, after its own grace period.
 *
 * CRASHES. Each batch commits on its own; killed mid-batch, its transaction rolls back. The one effect
 * outside the transaction, deleting bytes, happens before the commit: if the commit never comes, the
 * blob rows remain, still unreachable (no link, no reference, so no request can serve them), and the next
 * run deletes them again (deleting missing bytes is not an error). The next run simply resumes from what
 * the database says. The killed run's gc_run row stays "running" until the next collector (which holds
 * the lock, so the old one is surely gone) marks it "interrupted".
 *
 * One collector at a time (src/metadata/gc-lock.ts) keeps replicas from duplicating work; safety does not depend on it,
 * since a second collector is just more concurrent transactions. Row locks are taken in one order shared
 * with the metadata store (blob row, then repository row, then that repository's rows), so collector and
 * pushers cannot deadlock. On the embedded database (one connection), a batch holds the connection while
 * it deletes its bytes: keep batches small there if deletes are slow.
 */
export class Collector {
  private readonly db: GcStore;

  constructor(private readonly deps: CollectorDeps) {
    this.db = deps.store;
  }

  private get runs() {
    return this.db.runs;
  }

  /** One collection or dry run. The caller holds the collector lock (src/metadata/gc-lock.ts). */
  async run(options: CollectOptions): Promise<GcReport> {
    const interruptedRuns = await this.runs.markInterrupted();
    const runOptions: GcRunOptions = {
      graceMs: options.graceMs,
      untagged: options.untagged,
      uploadTimeoutMs: options.uploadTimeoutMs,
      retention: options.retention,
      batchSize: options.batchSize,
      batchPauseMs: options.batchPauseMs,
    };
    await this.runs.pruneLogs();
    const { id: runId, startedAt } = await this.runs.start(options.trigger, options.dryRun, { ...runOptions });
    const run = new RunState(runId, options, this.runs);
    let status: RunStatus = "succeeded";
    try {
      await this.collect(run);
    } catch (err) {
      if (run.aborted) {
        status = "interrupted";
      } else {
        status = "failed";
        run.errors.push((err as Error).message);
        this.deps.logger?.error({ err, runId }, "garbage collection failed");
      }
    }
    await this.resolveNames(run);
    const finishedAt = new Date();
    const report: GcReport = {
      runId,
      dryRun: options.dryRun,
      status,
      trigger: options.trigger,
      options: runOptions,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      phases: run.phases,
      totals: run.totals,
      repositories: run.repositoryReports(),
      mirrorCache: run.cache,
      heldBack: run.heldBack,
      items: run.items(),
      interruptedRuns,
      errors: run.errors,
    };
    await this.runs.finish(runId, status, run.errors, report);
    return report;
  }

  private async collect(run: RunState): Promise<void> {
    const { options } = run;
    const { now, cutoff, uploadCutoff } = await this.db.clock(options.graceMs, options.uploadTimeoutMs);

    let retained: RetentionDecision[] = [];
    const rules = options.retention ? await this.deps.rules() : null;
    if (rules && !rules.retention.empty) {
      await run.enter("retention", async () => {
        const decisions = await planRetention(this.db, rules.retention, rules.immutable, now);
        if (options.dryRun) {
          retained = decisions;
          run.recordTags(decisions);
        } else {
          await applyRetention(this.db, decisions, options.batchSize, {
            runId: run.runId,
            afterBatch: async (done) => {
              run.recordTags(done);
              await run.batchDone();
            },
          });
        }
      });
    }

    let evicted: EvictionDecision[] = [];
    if (this.deps.mirrorCache) {
      const cache = this.deps.mirrorCache;
      await run.enter("eviction", async () => {
        const plan = await planEviction(this.db, cache, cutoff);
        run.recordCache(plan);
        if (options.dryRun) {
          evicted = plan.decisions;
          run.recordEvictions(plan.decisions.map((decision) => ({ decision, tags: decision.tags, manifests: [] })));
          return;
        }
        await applyEviction(this.db, plan.decisions, cutoff, options.batchSize, {
          runId: run.runId,
          afterBatch: async (done) => {
            run.recordEvictions(done);
            await run.batchDone();
          },
        });
      });
    }

    // A dry run deleted no tags, so it marks as if retention's and eviction's tags were gone already.
    const excludedTags = [
      ...retained.map((d) => ({ repositoryId: d.repositoryId, name: d.tag })),
      ...evicted.flatMap((d) => d.tags.map((name) => ({ repositoryId: d.repositoryId, name }))),
    ];
    const plan = await run.enter("mark", () =>
      this.db.mark({ cutoff, uploadCutoff, untagged: options.untagged, excludedTags, itemLimit: ITEM_LIMIT }),
    );
    // The same mark with no grace: the difference is what the grace period keeps this time.
    const noGrace = await run.enter("held-back", () =>
      this.db.mark({ cutoff: now, uploadCutoff: now, untagged: options.untagged, excludedTags, itemLimit: 0 }),
    );
    run.heldBack = heldBackBy({ graceMs: options.graceMs, uploadTimeoutMs: options.uploadTimeoutMs }, noGrace, plan);
    for (const [id, name] of plan.names) run.names.set(id, name);

    if (options.dryRun) {
      run.recordPlan(plan);
      await run.enter("uploads", async () => {
        run.totals.orphanUploadDirs = (await this.orphanUploadDirs(uploadCutoff)).length;
      });
      return;
    }

    const withManifests = [...plan.repositories].filter(([, r]) => r.manifests > 0).map(([id]) => id);
    if (options.untagged && withManifests.length) await run.enter("manifests", () => this.sweepManifests(run, withManifests, cutoff));
    const withLinks = [...plan.repositories].filter(([, r]) => r.links > 0).map(([id]) => id);
    if (withLinks.length) await run.enter("links", () => this.sweepLinks(run, withLinks, cutoff));
    if (plan.blobs > 0) await run.enter("blobs", () => this.sweepBlobs(run, cutoff));
    await run.enter("uploads", () => this.sweepUploads(run, uploadCutoff));
  }

  /**
   * Runs `deleteBatch` for each repository (a batch per transaction holding the repository's row FOR
   * UPDATE, see RACE SAFETY above) until a batch comes back short.
   */
  private async sweepEachRepository<T>(
    run: RunState,
    repositoryIds: number[],
    deleteBatch: (repositoryId: number, batch: number) => Promise<T[]>,
    recorded: (repositoryId: number, deleted: T[]) => void,
  ): Promise<void> {
    const batch = run.options.batchSize;
    for (const repositoryId of repositoryIds.sort((a, b) => a - b)) {
      for (;;) {
        const rows = await deleteBatch(repositoryId, batch);
        recorded(repositoryId, rows);
        await run.batchDone();
        if (rows.length < batch) break;
      }
    }
  }

  /** Dangling manifests of each repository, newest first, under the repository's row lock. */
  private sweepManifests(run: RunState, repositoryIds: number[], cutoff: Date): Promise<void> {
    return this.sweepEachRepository(
      run,
      repositoryIds,
      (repositoryId, batch) => this.db.sweepManifests(run.runId, repositoryId, cutoff, batch),
      (repositoryId, rows) => run.recordManifests(repositoryId, rows),
    );
  }

  /** Links no manifest of their repository references, under the repository's row lock. */
  private sweepLinks(run: RunState, repositoryIds: number[], cutoff: Date): Promise<void> {
    return this.sweepEachRepository(
      run,
      repositoryIds,
      (repositoryId, batch) => this.db.sweepLinks(run.runId, repositoryId, cutoff, batch),
      (repositoryId, rows) => run.recordLinks(repositoryId, rows),
    );
  }

  /** Blobs with no link and no reference, in digest order; rows locked while their bytes are deleted. */
  private async sweepBlobs(run: RunState, cutoff: Date): Promise<void> {
    const batch = run.options.batchSize;
    let after = "";
    for (;;) {
      const { deleted, last, seen } = await this.db.sweepBlobs(run.runId, after, cutoff, batch, (digests) =>
        // The bytes go while the rows are still locked: no upload can place new bytes for these digests now.
        settleAll(digests, 16, (digest) => this.deps.storage.delete(blobPath(digest))),
      );
      run.recordBlobs(deleted);
      await run.batchDone();
      if (seen < batch) break;
      after = last;
    }
  }

  /** Idle upload sessions and their partial data; then upload folders left without a session. */
  private async sweepUploads(run: RunState, uploadCutoff: Date): Promise<void> {
    const batch = run.options.batchSize;
    for (;;) {
      const rows = await this.db.sweepUploads(run.runId, uploadCutoff, batch, (stale) =>
        settleAll(stale, 8, (u) => this.discardUploadData(u)).catch((err: Error) => {
          // Storage trouble must not pin the rows forever: log it, drop the rows, leave the bytes.
          run.errors.push(`deleting partial upload data: ${err.message}`);
        }),
      );
      run.recordUploads(rows);
      await run.batchDone();
      if (rows.length < batch) break;
    }
    for (const id of await this.orphanUploadDirs(uploadCutoff)) {
      await this.deps.storage.delete(uploadDir(id));
      run.totals.orphanUploadDirs++;
    }
  }

  private async discardUploadData({ id, driverState: state }: StaleUpload): Promise<void> {
    if (state) {
      // The driver's own cleanup (an S3 driver aborts its multipart upload here).
      const writer = await this.deps.storage.writer(uploadPath(id), state);
      await writer.cancel();
    }
    await this.deps.storage.delete(uploadDir(id));
  }

  /** Upload folders in storage with no session row whose files all predate the cutoff. */
  private async orphanUploadDirs(uploadCutoff: Date): Promise<string[]> {
    const files = new Map<string, string[]>();
    for await (const path of this.deps.storage.list("uploads")) {
      const id = path.split("/")[1];
      if (!id || !UUID.test(id)) continue;
      files.set(id, [...(files.get(id) ?? []), path]);
    }
    if (!files.size) return [];
    const ids = [...files.keys()];
    // A mirror fetch shares its download as an upload with no session row; its live lease keeps it.
    const live = await this.db.liveUploadIds(ids);
    const orphans: string[] = [];
    for (const id of ids.filter((x) => !live.has(x))) {
      const stats = await Promise.all(files.get(id)!.map((p) => this.deps.storage.stat(p).catch(() => null)));
      if (stats.every((s) => s === null || s.modifiedAt < uploadCutoff)) orphans.push(id);
    }
    return orphans;
  }

  private async resolveNames(run: RunState): Promise<void> {
    const missing = [...run.repositories.keys()].filter((id) => !run.names.has(id));
    if (!missing.length) return;
    const rows = await this.db.repositoryNames(missing).catch(() => []);
    for (const r of rows) run.names.set(r.id, r.name);
  }
}

export interface CollectorDeps {
  store: GcStore;
  storage: StorageDriver;
  /** The rules in force for this run. */
  rules: () => Promise<CompiledRules>;
  /** Null: no mirror cache limit, nothing to evict. */
  mirrorCache: MirrorCache | null;
  logger?: Logger;
}

export interface CollectOptions extends GcRunOptions {
  trigger: RunTrigger;
  dryRun: boolean;
  /** Checked between batches; an aborted run ends "interrupted" (everything committed so far stays). */
  signal?: AbortSignal;
  onProgress?: (progress: RunProgress) => void;
}

/** How stale a blob's last touch must be before a HEAD/GET renews it: a quarter of the grace, at least 1 min. */
export function touchIntervalFor(graceMs: number): number {
  return Math.max(Math.floor(graceMs / 4), 60_000);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * fn over every item, `limit` at a time; waits for all before failing with the first error, so no
 * deletion is still in flight once the caller's transaction (and its row locks) ends.
 */
async function settleAll<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/** Counters, per-repository tallies and items of one run, and its progress bookkeeping. */
class RunState {
  phase = "starting";
  readonly phases: Record<string, number> = {};
  readonly errors: string[] = [];
  readonly names = new Map<number, string>();
  readonly repositories = new Map<number, RepositoryPlan & { tags: number }>();
  readonly totals: GcTotals = {
    tags: 0, manifests: 0, manifestBytes: 0, links: 0, blobs: 0, blobBytes: 0, uploads: 0, uploadBytes: 0,
    orphanUploadDirs: 0, bytesFreed: 0, evictedImages: 0, evictedBytes: 0,
  };
  cache: GcReport["mirrorCache"] = null;
  heldBack: GcReport["heldBack"] = null;
  private readonly tagItems: Array<{ repository: string; tag: string; digest: string }> = [];
  private readonly manifestItems: Array<{ repositoryId: number; digest: string; size: number }> = [];
  private readonly blobItems: Array<{ digest: string; size: number }> = [];
  private readonly evictedItems: GcReport["items"]["evicted"] = [];
  private truncated = false;

  constructor(
    readonly runId: number,
    readonly options: CollectOptions,
    private readonly runs: GcStore["runs"],
  ) {}

  get aborted(): boolean {
    return this.options.signal?.aborted ?? false;
  }

  async enter<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    this.checkAbort();
    this.phase = phase;
    const started = Date.now();
    await this.runs.phase(this.runId, phase);
    try {
      return await fn();
    } finally {
      this.phases[phase] = (this.phases[phase] ?? 0) + Date.now() - started;
    }
  }

  /** After each committed batch (which recorded itself in the run's row): report, pause if asked, stop if aborted. */
  async batchDone(): Promise<void> {
    this.options.onProgress?.(this.progress());
    if (this.options.batchPauseMs > 0) await new Promise((r) => setTimeout(r, this.options.batchPauseMs));
    this.checkAbort();
  }

  private checkAbort(): void {
    if (this.aborted) throw new Error("garbage collection interrupted");
  }

  progress(): RunProgress {
    const t = this.totals;
    return {
      phase: this.phase,
      tagsDeleted: t.tags,
      manifestsDeleted: t.manifests,
      linksDeleted: t.links,
      blobsDeleted: t.blobs,
      uploadsDeleted: t.uploads,
      bytesFreed: t.blobBytes + t.uploadBytes,
      imagesEvicted: t.evictedImages,
    };
  }

  private repository(id: number) {
    let r = this.repositories.get(id);
    if (!r) this.repositories.set(id, (r = { ...emptyRepositoryPlan(), tags: 0 }));
    return r;
  }

  recordTags(decisions: RetentionDecision[]): void {
    for (const d of decisions) {
      this.names.set(d.repositoryId, d.repository);
      this.repository(d.repositoryId).tags++;
      this.totals.tags++;
      this.item(this.tagItems, { repository: d.repository, tag: d.tag, digest: d.digest });
    }
  }

  recordCache(plan: EvictionPlan): void {
    this.cache = { limitBytes: plan.limitBytes, targetBytes: plan.targetBytes, bytesBefore: plan.cacheBytes };
  }

  /** Evicted images; a dry run passes no manifests (its mark phase counts them as dangling). */
  recordEvictions(results: EvictionResult[]): void {
    for (const { decision: d, tags, manifests } of results) {
      this.names.set(d.repositoryId, d.repository);
      const r = this.repository(d.repositoryId);
      r.tags += tags.length;
      this.totals.tags += tags.length;
      this.totals.evictedImages++;
      this.totals.evictedBytes += d.bytes;
      this.recordManifests(d.repositoryId, manifests);
      this.item(this.evictedItems, { repository: d.repository, digest: d.digest, tags, lastPulledAt: d.lastUsed.toISOString(), bytes: d.bytes });
    }
  }

  recordManifests(repositoryId: number, rows: Array<{ digest: string; size: number }>): void {
    const r = this.repository(repositoryId);
    for (const row of rows) {
      r.manifests++;
      r.manifestBytes += row.size;
      this.totals.manifests++;
      this.totals.manifestBytes += row.size;
      this.item(this.manifestItems, { repositoryId, digest: row.digest, size: row.size });
    }
  }

  recordLinks(repositoryId: number, rows: Array<{ digest: string; size: number }>): void {
    const r = this.repository(repositoryId);
    for (const row of rows) {
      r.links++;
      r.linkBytes += row.size;
      this.totals.links++;
    }
  }

  recordBlobs(rows: Array<{ digest: string; size: number }>): void {
    for (const row of rows) {
      this.totals.blobs++;
      this.totals.blobBytes += row.size;
      this.totals.bytesFreed += row.size;
      this.item(this.blobItems, row);
    }
  }

  recordUploads(rows: Array<{ repositoryId: number; bytes: number }>): void {
    for (const row of rows) {
      const r = this.repository(row.repositoryId);
      r.uploads++;
      r.uploadBytes += row.bytes;
      this.totals.uploads++;
      this.totals.uploadBytes += row.bytes;
      this.totals.bytesFreed += row.bytes;
    }
  }

  /** A dry run reports the plan. */
  recordPlan(plan: Plan): void {
    for (const [id, p] of plan.repositories) {
      const r = this.repository(id);
      Object.assign(r, { ...p, tags: r.tags });
      this.totals.manifests += p.manifests;
      this.totals.manifestBytes += p.manifestBytes;
      this.totals.links += p.links;
      this.totals.uploads += p.uploads;
      this.totals.uploadBytes += p.uploadBytes;
    }
    this.totals.blobs = plan.blobs;
    this.totals.blobBytes = plan.blobBytes;
    this.totals.bytesFreed = plan.blobBytes + this.totals.uploadBytes;
    this.manifestItems.push(...plan.manifestItems);
    this.blobItems.push(...plan.blobItems);
    this.truncated ||= plan.truncated;
  }

  private item<T>(list: T[], value: T): void {
    if (list.length < ITEM_LIMIT) list.push(value);
    else this.truncated = true;
  }

  repositoryReports(): GcReport["repositories"] {
    return [...this.repositories]
      .map(([id, r]) => ({
        repository: this.names.get(id) ?? `#${id}`,
        tags: r.tags,
        manifests: r.manifests,
        manifestBytes: r.manifestBytes,
        links: r.links,
        linkBytes: r.linkBytes,
        uploads: r.uploads,
        uploadBytes: r.uploadBytes,
      }))
      .filter((r) => r.tags || r.manifests || r.links || r.uploads)
      .sort((a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0));
  }

  items(): GcReport["items"] {
    return {
      tags: this.tagItems,
      manifests: this.manifestItems.map((m) => ({ repository: this.names.get(m.repositoryId) ?? `#${m.repositoryId}`, digest: m.digest, size: m.size })),
      blobs: this.blobItems,
      evicted: this.evictedItems,
      truncated: this.truncated,
    };
  }
}
