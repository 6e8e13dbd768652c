// Starts a collection when mirror fetches take the cache over its limit, so eviction happens without an
// operator. Fetches only add to a running estimate; the cache is measured (one query) when the estimate
// crosses the limit, and a collection runs when the measurement confirms it, at most once per interval.
import type { Logger } from "pino";

export interface CacheWatchDeps {
  limitBytes: number;
  /** Least time between the starts of two collections. */
  intervalMs: number;
  measure: () => Promise<number>;
  /** Runs a collection; false when another collector was busy (tried again after the interval). */
  collect: () => Promise<boolean>;
  logger?: Logger;
}

/** Delay before a first check, so the fetches of one pull are counted together. */
const SETTLE_MS = 1000;

export class CacheWatch {
  /** The last measurement plus what was fetched since; null until the first measurement. */
  private estimate: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastCollection = -Infinity;
  private stopped = false;

  constructor(private readonly deps: CacheWatchDeps) {}

  /** A fetch added `bytes` to the cache. */
  grew(bytes: number): void {
    if (this.estimate !== null) this.estimate += bytes;
    if (this.estimate !== null && this.estimate <= this.deps.limitBytes) return;
    this.arm();
  }

  /** Stops checking and waits for a collection in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private arm(): void {
    if (this.stopped || this.timer || this.running) return;
    const wait = Math.max(SETTLE_MS, this.lastCollection + this.deps.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.check()
        .catch((err: unknown) => this.deps.logger?.error({ err }, "mirror cache check failed"))
        .finally(() => (this.running = undefined));
    }, wait);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const measured = await this.deps.measure();
    this.estimate = measured;
    if (measured <= this.deps.limitBytes || this.stopped) return;
    this.deps.logger?.info({ bytes: measured, limit: this.deps.limitBytes }, "mirror cache over its limit: collecting");
    this.lastCollection = Date.now();
    const ran = await this.deps.collect();
    // Still over (what is left was pulled within the grace period, or another collector was busy): the
    // next fetch arms a check again, no earlier than the interval allows.
    this.estimate = ran ? await this.deps.measure() : null;
  }
}
