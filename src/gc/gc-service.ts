// Garbage collection, retention and storage usage as one service: what the CLI, the scheduler and (later)
// the admin API call. Nothing here knows about HTTP; an admin route maps GcBusyError to 409 and the
// reports to JSON as they are.
import type { Logger } from "pino";
import type { Stores } from "../metadata/stores";
import type { EventSink } from "../events/event-bus";
import { CLI_ACTOR, GC_ACTOR, type Actor } from "../events/vocabulary";
import type { StorageDriver } from "../storage/driver";
import { CacheWatch } from "./cache-watch";
import { Collector, type CollectOptions } from "./collector";
import type { GcConfig } from "../config/gc";
import { mirrorCacheOf, type MirrorCache } from "./eviction";
import { LiveRules, type ConfiguredRules } from "./live-rules";
import type { GcReport, RunTrigger } from "./report";
import { planRetention, type RetentionDecision } from "./retention";
import { ValidatedRuleStore } from "./project-rule-store";
import { ProjectRules } from "./project-rules";
import { runRecord, type GcRunRecord, type RunProgress } from "./runs";
import { parseSchedule } from "../config/schedule";
import { GcScheduler } from "./scheduler";
import type { GcStore } from "../metadata/gc-store";
import type { StorageUsage } from "../metadata/storage-usage";
import type { LiveSettings } from "../metadata/live-settings";
import type { GcLogEntry } from "../metadata/gc-runs";
import { GcSettings } from "./gc-settings";

export interface GcServiceDeps {
  stores: Pick<Stores, "gc" | "projectRules">;
  storage: StorageDriver;
  config: ConfiguredRules & {
    gc: GcConfig;
    mirror: Parameters<typeof mirrorCacheOf>[0] & { evictionInterval: number };
  };
  logger?: Logger;
  /** Told about every finished run (metrics). */
  onRunFinished?: (report: GcReport) => void;
  /** Where every run (dry runs too) is recorded as one "gc.run" event. */
  events?: EventSink;
  /** Settings changed at run time (schedule, grace, untagged) over the configuration; none: as configured. */
  settings?: LiveSettings;
}

/** What a caller may choose for one run; everything else comes from the configuration. */
export interface GcRequest {
  trigger: RunTrigger;
  /** Who asked for the run; by default Berth itself (the `berth` command for trigger "cli"). */
  actor?: Actor;
  dryRun?: boolean;
  graceMs?: number;
  /** False keeps untagged manifests (and so everything they reference). */
  untagged?: boolean;
  uploadTimeoutMs?: number;
  /** False skips the retention rules this time. */
  retention?: boolean;
  batchSize?: number;
  batchPauseMs?: number;
  onProgress?: (progress: RunProgress) => void;
}

/** Another collector (this process or another replica) is running; try again later. */
export class GcBusyError extends Error {
  override name = "GcBusyError";
  constructor() {
    super("another garbage collection is running");
  }
}

export class GcService {
  /** The configured and stored rules in force; the server keeps them fresh with watch(). */
  readonly rules: LiveRules;
  /** The rules stored per project, as the admin API manages them. */
  readonly projectRules: ProjectRules;
  /** Schedule, grace and untagged as in force now: set at run time or configured. */
  readonly settings: GcSettings;
  private readonly db: GcStore;
  private readonly collector: Collector;
  private readonly mirrorCache: MirrorCache | null;
  private readonly cacheWatch: CacheWatch | null;
  private scheduler: { text: string; scheduler: GcScheduler } | undefined;
  /** Set by startSchedule: the schedule follows the settings from then on. */
  private stopFollowing: (() => void) | undefined;
  private active: { controller: AbortController; done: Promise<unknown> } | undefined;
  private closed = false;

  constructor(private readonly deps: GcServiceDeps) {
    const store = new ValidatedRuleStore(deps.stores.projectRules);
    this.rules = new LiveRules(deps.config, () => store.all(), deps.logger);
    this.projectRules = new ProjectRules({
      store,
      rules: this.rules,
      configured: deps.config,
      previewRetention: (project) => this.previewRetention(project),
    });
    this.db = deps.stores.gc;
    this.settings = new GcSettings(deps.config.gc, deps.settings ?? null);
    this.mirrorCache = mirrorCacheOf(deps.config.mirror);
    this.collector = new Collector({
      store: this.db,
      storage: deps.storage,
      // Read afresh at each run: another replica may have changed them a moment ago.
      rules: () => this.rules.refresh(),
      mirrorCache: this.mirrorCache,
      logger: deps.logger,
    });
    const cache = this.mirrorCache;
    this.cacheWatch = cache
      ? new CacheWatch({
          limitBytes: cache.limitBytes,
          intervalMs: deps.config.mirror.evictionInterval,
          measure: () => this.db.mirrorCacheBytes(cache),
          collect: async () => {
            try {
              await this.collect({ trigger: "cache-limit" });
              return true;
            } catch (err) {
              if (err instanceof GcBusyError) return false;
              throw err;
            }
          },
          logger: deps.logger,
        })
      : null;
  }

  /** A mirror fetch stored `bytes` more: may start a collection that evicts (mirror.cacheMaxBytes). */
  mirrorCacheGrew(bytes: number): void {
    if (!this.closed) this.cacheWatch?.grew(bytes);
  }

  /** Bytes the mirror cache takes now, as eviction counts them; null without a cache limit. */
  async mirrorCacheBytes(): Promise<number | null> {
    return this.mirrorCache ? this.db.mirrorCacheBytes(this.mirrorCache) : null;
  }

  /**
   * Runs a collection (or a dry run) now and resolves with its report, also recorded in gc_run. Throws
   * GcBusyError at once when another collector holds the lock. A run that fails half-way resolves with
   * status "failed" and its errors; what it committed stays done.
   */
  async collect(request: GcRequest): Promise<GcReport> {
    if (this.closed) throw new Error("the garbage collection service is closed");
    const release = await this.db.tryLockCollector();
    if (!release) throw new GcBusyError();
    const controller = new AbortController();
    const gc = this.deps.config.gc;
    const options: CollectOptions = {
      trigger: request.trigger,
      dryRun: request.dryRun ?? false,
      graceMs: request.graceMs ?? this.settings.grace,
      untagged: request.untagged ?? this.settings.untagged,
      uploadTimeoutMs: request.uploadTimeoutMs ?? gc.uploadTimeout,
      retention: request.retention ?? gc.retention,
      batchSize: request.batchSize ?? gc.batchSize,
      batchPauseMs: request.batchPauseMs ?? gc.batchPause,
      signal: controller.signal,
      onProgress: request.onProgress,
    };
    const done = this.collector.run(options).finally(release);
    this.active = { controller, done };
    try {
      const report = await done;
      this.deps.logger?.info(
        { runId: report.runId, dryRun: report.dryRun, status: report.status, trigger: report.trigger, totals: report.totals, ms: report.durationMs },
        "garbage collection finished",
      );
      this.deps.onRunFinished?.(report);
      this.recordRun(report, request.actor ?? (request.trigger === "cli" ? CLI_ACTOR : GC_ACTOR));
      return report;
    } finally {
      if (this.active?.done === done) this.active = undefined;
    }
  }

  private recordRun(report: GcReport, actor: Actor): void {
    this.deps.events?.record({
      action: "gc.run",
      actor,
      reference: `gc run ${report.runId}`,
      success: report.status === "succeeded",
      detail: {
        runId: report.runId,
        trigger: report.trigger,
        dryRun: report.dryRun,
        status: report.status,
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        manifestsDeleted: report.totals.manifests,
        blobsDeleted: report.totals.blobs,
        tagsDeleted: report.totals.tags,
        bytesFreed: report.totals.bytesFreed,
        evictedImages: report.totals.evictedImages,
        errors: report.errors,
      },
    });
  }

  /** The tags the retention rules would delete now (in one project), without deleting anything or taking the lock. */
  async previewRetention(project?: string): Promise<RetentionDecision[]> {
    const now = await this.db.now();
    const rules = await this.rules.refresh();
    return planRetention(this.db, rules.retention, rules.immutable, now, project);
  }

  usage(): Promise<StorageUsage> {
    return this.db.usage();
  }

  /** Most recent first. */
  async listRuns(limit = 20): Promise<GcRunRecord[]> {
    return (await this.db.runs.list(limit)).map(runRecord);
  }

  /** A page of what the run deleted (see GcRunStore.logPage). */
  logPage(runId: number, after: number, limit: number): Promise<{ entries: GcLogEntry[]; last: number }> {
    return this.db.runs.logPage(runId, after, limit);
  }

  async getRun(id: number): Promise<GcRunRecord | null> {
    const row = await this.db.runs.get(id);
    return row && runRecord(row);
  }

  /**
   * Runs collections on the schedule in force (none: nothing to do), and follows changes to it from the
   * settings. Returns the next due time.
   */
  startSchedule(): Date | null {
    if (!this.closed && !this.stopFollowing) this.stopFollowing = this.settings.onChange(() => this.armSchedule());
    this.armSchedule();
    return this.nextScheduledRun();
  }

  nextScheduledRun(): Date | null {
    return this.scheduler?.scheduler.nextRun ?? null;
  }

  private armSchedule(): void {
    const problem = this.settings.scheduleError;
    if (problem && !this.closed) this.deps.logger?.error(problem);
    const text = this.closed ? undefined : this.settings.schedule;
    if (text === this.scheduler?.text) return;
    // The old schedule stops arming; a run it started goes on, and the new schedule's turn waits for the lock.
    void this.scheduler?.scheduler.stop();
    this.scheduler = undefined;
    if (!text) return;
    const scheduler = new GcScheduler(
      parseSchedule(text),
      async () => {
        try {
          await this.collect({ trigger: "schedule" });
        } catch (err) {
          if (!(err instanceof GcBusyError)) throw err;
          this.deps.logger?.info("scheduled garbage collection skipped: another collector is running");
        }
      },
      this.deps.logger,
    );
    scheduler.start();
    this.scheduler = { text, scheduler };
    this.deps.logger?.info({ schedule: text, next: scheduler.nextRun?.toISOString() }, "garbage collection scheduled");
  }

  /** Stops the schedule and interrupts a run in progress at its next batch boundary, waiting for it. */
  async close(): Promise<void> {
    this.closed = true;
    this.rules.close();
    this.stopFollowing?.();
    const stopping = [this.scheduler?.scheduler.stop(), this.cacheWatch?.stop()];
    this.active?.controller.abort();
    await Promise.allSettled([...stopping, this.active?.done]);
  }
}
