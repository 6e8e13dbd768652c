/**
 * Slows down password guessing: after `maxFailures` failed logins for one account from one address within
 * the window, further attempts are refused (429 with Retry-After) until the window has passed.
 * Kept in process memory: each replica throttles on its own, which still bounds guesses per replica.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until another attempt is allowed, or 0 when it is allowed now. */
  retryAfter(account: string, address: string): number {
    const recent = this.recent(`${account}\u0000${address}`);
    if (recent.length < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((recent[0] + this.windowMs - this.now()) / 1000));
  }

  fail(account: string, address: string): void {
    const key = `${account}\u0000${address}`;
    const recent = this.recent(key);
    recent.push(this.now());
    this.failures.set(key, recent);
    if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value!);
  }

  succeed(account: string, address: string): void {
    this.failures.delete(`${account}\u0000${address}`);
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > cutoff);
  }
}
