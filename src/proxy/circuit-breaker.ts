/**
 * Stops hammering a dead upstream: after `threshold` consecutive failures the circuit opens and calls fail
 * fast for `cooldownMs`; then one trial call is let through (half-open), and its outcome decides.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a call may go out now. */
  allow(): boolean {
    if (this.failures < this.threshold) return true;
    if (this.now() < this.openUntil || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  succeed(): void {
    this.failures = 0;
    this.trialInFlight = false;
  }

  /** Ends a half-open trial that says nothing about the upstream's health (Berth refused to go there). */
  release(): void {
    this.trialInFlight = false;
  }

  fail(): void {
    this.failures++;
    this.trialInFlight = false;
    if (this.failures >= this.threshold) this.openUntil = this.now() + this.cooldownMs;
  }

  get state(): "closed" | "open" | "half-open" {
    if (this.failures < this.threshold) return "closed";
    return this.now() < this.openUntil ? "open" : "half-open";
  }
}
