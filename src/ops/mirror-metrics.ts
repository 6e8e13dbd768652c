import type { Counter } from "prom-client";
import type { Mirror } from "../proxy";
import type { Metrics } from "../metrics/metrics";

/**
 * Mirror figures (kept by MirrorStats and the upstream clients) copied into Prometheus metrics at scrape
 * time. Counters are set from MirrorStats' running totals, which only grow for the life of the process.
 */
export function registerMirrorMetrics(metrics: Metrics, mirror: Mirror): void {
  const { stats } = mirror;
  const hits = metrics.counter("mirror_cache_hits_total", "Mirrored manifests and blobs served from the cache");
  const misses = metrics.counter("mirror_cache_misses_total", "Mirrored manifests and blobs fetched from an upstream");
  const stale = metrics.counter("mirror_stale_serves_total", "Cached tags served while their upstream failed");
  const fromUpstream = metrics.counter("mirror_upstream_bytes_total", "Bytes fetched from upstreams");
  const saved = metrics.counter("mirror_bytes_saved_total", "Bytes served from the cache that would otherwise have come from an upstream");
  const evicted = metrics.counter("mirror_cache_evicted_images_total", "Mirrored images evicted because the cache was over mirror.cacheMaxBytes");
  const evictedBytes = metrics.counter("mirror_cache_evicted_bytes_total", "Cache bytes freed by evicting mirrored images");
  const requests = metrics.counter("mirror_upstream_requests_total", "Requests sent to each upstream", ["upstream"]);
  const seconds = metrics.counter("mirror_upstream_request_seconds_total", "Total time spent on requests to each upstream", ["upstream"]);
  const errors = metrics.counter("mirror_upstream_errors_total", "Failed requests to each upstream", ["upstream"]);
  const open = metrics.gauge("mirror_upstream_circuit_open", "1 while an upstream's circuit breaker is open (calls fail fast), else 0", ["upstream"]);

  const setTotal = totalSetter();
  metrics.onCollect(() => {
    setTotal(hits, stats.hits);
    setTotal(misses, stats.misses);
    setTotal(stale, stats.staleServes);
    setTotal(fromUpstream, stats.bytesFromUpstream);
    setTotal(saved, stats.bytesSaved);
    setTotal(evicted, stats.evictedImages);
    setTotal(evictedBytes, stats.evictedBytes);
    for (const l of stats.upstreamLatencyTotals()) {
      setTotal(requests, l.requests, { upstream: l.upstream });
      setTotal(seconds, l.totalMs / 1000, { upstream: l.upstream });
    }
    for (const u of mirror.upstreams) {
      setTotal(errors, stats.errorCounts.get(u.config.name) ?? 0, { upstream: u.config.name });
      open.set({ upstream: u.config.name }, u.breaker.state === "open" ? 1 : 0);
    }
  });
}

/** Copies running totals kept elsewhere into counters (prom-client counters only have inc). */
function totalSetter() {
  const seen = new Map<string, number>();
  return <L extends string>(counter: Counter<L>, total: number, labels: Partial<Record<L, string>> = {}): void => {
    const key = `${(counter as unknown as { name: string }).name}${JSON.stringify(labels)}`;
    const delta = total - (seen.get(key) ?? 0);
    if (delta > 0) {
      counter.inc(labels as never, delta);
      seen.set(key, total);
    }
  };
}
