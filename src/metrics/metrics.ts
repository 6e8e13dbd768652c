import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from "prom-client";

/**
 * Berth's Prometheus metrics: one Metrics per process, made in deps.ts and served at /metrics.
 *
 * For other modules (GC, storage drivers, the web UI…), the API is:
 *
 * - `metrics.counter(name, help, labelNames?)`, `metrics.gauge(…)`, `metrics.histogram(…, buckets?)`:
 *   create — or get, when already created with the same name — a metric named `berth_<name>` in this
 *   registry. Names are snake_case; counters end in `_total`, durations are in seconds, sizes in bytes.
 * - `metrics.onCollect(fn)`: run `fn` (sync or async) just before every scrape, to copy figures kept
 *   elsewhere into gauges. A failing or slow (> 2 s) collector is logged by the caller of `render()` and
 *   skipped; it never fails the scrape.
 * - `metrics.gc.runFinished(report)`: the garbage collector's hook (see GcRunReport); the gc metrics exist
 *   from the start, at zero, so dashboards and alerts work before the first run.
 * - `metrics.registry`: the prom-client Registry itself, for anything the helpers do not cover
 *   (`new Summary({ …, registers: [metrics.registry] })`).
 *
 * Every figure here is per process: with several replicas, aggregate in Prometheus (sum by …).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly collectors: Array<() => unknown> = [];

  readonly http: HttpMetrics;
  readonly storageErrors: Counter<"driver" | "operation">;
  readonly databaseErrors: Counter<"source">;
  readonly gc: GcMetrics;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.http = {
      requests: this.counter("http_requests_total", "HTTP requests answered, by route pattern, method and status", ["route", "method", "status"]),
      duration: this.histogram(
        "http_request_duration_seconds",
        "Time from receiving a request's head to the end of its response, by route pattern and method",
        ["route", "method"],
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      ),
      inFlight: this.gauge("http_requests_in_flight", "HTTP requests being handled"),
      bytesIn: this.counter("http_request_body_bytes_total", "Request body bytes received, by route pattern", ["route"]),
      bytesOut: this.counter("http_response_body_bytes_total", "Response body bytes sent, by route pattern", ["route"]),
      uploadsInProgress: this.gauge("uploads_in_progress", "Blob upload requests (POST/PATCH/PUT with a body) currently streaming into this process"),
      rateLimited: this.counter("http_rate_limited_total", "Anonymous requests refused with 429 by the per-address rate limit"),
      refused: this.counter("http_refused_total", "Requests refused by a limit or timeout before or while reading them", ["reason"]),
    };
    this.storageErrors = this.counter("storage_errors_total", "Storage driver calls that failed (not counting 'not found')", ["driver", "operation"]);
    this.databaseErrors = this.counter("database_errors_total", "Database failures seen by requests, readiness checks and scrapes", ["source"]);
    this.gc = new GcMetrics(this);
  }

  counter<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.existing(name) ?? new Counter({ name: `berth_${name}`, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.existing(name) ?? new Gauge({ name: `berth_${name}`, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return this.existing(name) ?? new Histogram({ name: `berth_${name}`, help, labelNames, buckets, registers: [this.registry] });
  }

  onCollect(collector: () => unknown): void {
    this.collectors.push(collector);
  }

  /** The text exposition; collectors run first, each bounded in time. */
  async render(onCollectorError?: (err: unknown) => void): Promise<{ contentType: string; body: string }> {
    await Promise.all(
      this.collectors.map(async (collect) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(collect),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("metrics collector timed out")), 2000))),
          ]);
        } catch (err) {
          onCollectorError?.(err);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private existing<M>(name: string): M | undefined {
    return this.registry.getSingleMetric(`berth_${name}`) as (Metric & M) | undefined;
  }
}

export interface HttpMetrics {
  requests: Counter<"route" | "method" | "status">;
  duration: Histogram<"route" | "method">;
  inFlight: Gauge;
  bytesIn: Counter<"route">;
  bytesOut: Counter<"route">;
  uploadsInProgress: Gauge;
  rateLimited: Counter;
  refused: Counter<"reason">;
}

/** What a garbage collection run reports to metrics.gc.runFinished(). */
export interface GcRunReport {
  /** A dry run only reports; its deletions are not added to the deleted/freed totals. */
  dryRun: boolean;
  durationSeconds: number;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** Set when the run failed part-way; the counts are what it did before failing. */
  error?: unknown;
}

export class GcMetrics {
  private readonly runs: Counter<"outcome">;
  private readonly lastRun: Gauge;
  private readonly lastDuration: Gauge;
  private readonly manifests: Counter;
  private readonly blobs: Counter;
  private readonly bytes: Counter;

  constructor(metrics: Metrics) {
    this.runs = metrics.counter("gc_runs_total", "Garbage collection runs, by outcome (success, failure, dry_run)", ["outcome"]);
    this.lastRun = metrics.gauge("gc_last_run_timestamp_seconds", "When the last garbage collection run finished (Unix time)");
    this.lastDuration = metrics.gauge("gc_last_run_duration_seconds", "How long the last garbage collection run took");
    this.manifests = metrics.counter("gc_manifests_deleted_total", "Manifests deleted by garbage collection");
    this.blobs = metrics.counter("gc_blobs_deleted_total", "Blobs deleted by garbage collection");
    this.bytes = metrics.counter("gc_bytes_freed_total", "Storage bytes freed by garbage collection");
    for (const outcome of ["success", "failure", "dry_run"]) this.runs.inc({ outcome }, 0);
  }

  runFinished(report: GcRunReport): void {
    this.runs.inc({ outcome: report.error ? "failure" : report.dryRun ? "dry_run" : "success" });
    this.lastRun.set(Date.now() / 1000);
    this.lastDuration.set(report.durationSeconds);
    if (report.dryRun) return;
    this.manifests.inc(report.manifestsDeleted);
    this.blobs.inc(report.blobsDeleted);
    this.bytes.inc(report.bytesFreed);
  }
}
