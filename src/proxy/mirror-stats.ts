/** Mirror figures kept in process memory, for the admin API and the web UI's dashboard. */
export class MirrorStats {
  hits = 0;
  misses = 0;
  staleServes = 0;
  bytesFromUpstream = 0;
  /** Bytes served from cache that would otherwise have come from an upstream. */
  bytesSaved = 0;
  /** Images evicted by this process's collections because the cache was over its limit, and their bytes. */
  evictedImages = 0;
  evictedBytes = 0;
  private readonly errors: Array<{ at: string; upstream: string; message: string }> = [];
  private readonly latency = new Map<string, { count: number; totalMs: number }>();
  /** Failed upstream calls since start, by upstream (for metrics; `errors` keeps only the latest). */
  readonly errorCounts = new Map<string, number>();
  private readonly pulls = new Map<string, number>();

  hit(repository: string): void {
    this.hits++;
    this.countPull(repository);
  }

  miss(repository: string): void {
    this.misses++;
    this.countPull(repository);
  }

  upstreamError(upstream: string, message: string): void {
    this.errors.push({ at: new Date().toISOString(), upstream, message });
    this.errorCounts.set(upstream, (this.errorCounts.get(upstream) ?? 0) + 1);
    if (this.errors.length > 100) this.errors.shift();
  }

  upstreamLatency(upstream: string, ms: number): void {
    const entry = this.latency.get(upstream) ?? { count: 0, totalMs: 0 };
    entry.count++;
    entry.totalMs += ms;
    this.latency.set(upstream, entry);
  }

  /** Upstream requests and their total time, by upstream. */
  upstreamLatencyTotals(): Array<{ upstream: string; requests: number; totalMs: number }> {
    return [...this.latency].map(([upstream, l]) => ({ upstream, requests: l.count, totalMs: l.totalMs }));
  }

  snapshot() {
    const total = this.hits + this.misses;
    return {
      hits: this.hits,
      misses: this.misses,
      hitRate: total ? this.hits / total : 0,
      staleServes: this.staleServes,
      bytesFromUpstream: this.bytesFromUpstream,
      bytesSaved: this.bytesSaved,
      evictedImages: this.evictedImages,
      evictedBytes: this.evictedBytes,
      recentErrors: [...this.errors].reverse().slice(0, 20),
      upstreamLatencyMs: Object.fromEntries([...this.latency].map(([name, l]) => [name, { requests: l.count, averageMs: l.totalMs / l.count }])),
      mostPulled: [...this.pulls].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([repository, pulls]) => ({ repository, pulls })),
    };
  }

  private countPull(repository: string): void {
    this.pulls.set(repository, (this.pulls.get(repository) ?? 0) + 1);
    if (this.pulls.size > 10_000) this.pulls.delete(this.pulls.keys().next().value!);
  }
}
