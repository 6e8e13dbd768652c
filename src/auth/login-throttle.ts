/**
 * Slows down password guessing: after `maxFailures` failed logins for one account from one address within
 * the window, further attempts are refused (429 with Retry-After) until the window has passed.
 * Kept in process memory: each replica throttles on its own, which still bounds guesses per replica.
 *
 * Memory is bounded by evicting the oldest entry past a cap, and eviction must never free the lockout a
 * guesser holds on a real account. Failures are therefore kept in two tables: names that turned out not to
 * be usable accounts (`unknownAccount`) go to a table of their own, so flooding failed logins under random
 * names (the anonymous rate limit is off by default) only ever evicts other unknown names — losing one of
 * those frees guesses at an account that does not exist. The table of real accounts can only grow with
 * accounts × addresses; an attacker who rotates enough addresses to overflow it could as well guess from
 * each address directly, so eviction there buys nothing new. Alternatives weighed: evicting only entries
 * without an active lockout leaves nothing to evict once the flood holds locked entries of its own, and a
 * per-address cap lets the attacker's own flood evict their own lockout. The two tables behave the same
 * to a client (same 429, same Retry-After); telling them apart takes a cap's worth of failed logins, each
 * paying for a full password hash.
 */
export class LoginThrottle {
  private readonly accounts = new Map<string, number[]>();
  private readonly unknown = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly cap = 100_000,
  ) {}

  /** Seconds until another attempt is allowed, or 0 when it is allowed now. */
  retryAfter(account: string, address: string): number {
    const key = keyOf(account, address);
    const recent = this.recent(this.unknown.has(key) ? this.unknown : this.accounts, key);
    if (recent.length < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((recent[0] + this.windowMs - this.now()) / 1000));
  }

  /**
   * Counts a failure; called before the password is checked, so the name is taken as real until told
   * otherwise — also when it was unknown before (an account created since must not keep evictable failures).
   */
  fail(account: string, address: string): void {
    const key = keyOf(account, address);
    const recent = this.recent(this.unknown.has(key) ? this.unknown : this.accounts, key);
    this.unknown.delete(key);
    recent.push(this.now());
    this.store(this.accounts, key, recent);
  }

  /** The name is not a usable account: its failures move to the table that floods may evict from. */
  unknownAccount(account: string, address: string): void {
    const key = keyOf(account, address);
    const recent = this.accounts.get(key);
    if (!recent) return;
    this.accounts.delete(key);
    this.store(this.unknown, key, recent);
  }

  succeed(account: string, address: string): void {
    const key = keyOf(account, address);
    this.accounts.delete(key);
    this.unknown.delete(key);
  }

  private store(table: Map<string, number[]>, key: string, recent: number[]): void {
    // Re-inserted at the end, so the first key is the one failed longest ago.
    table.delete(key);
    table.set(key, recent);
    if (table.size > this.cap) table.delete(table.keys().next().value!);
  }

  private recent(table: Map<string, number[]>, key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    return (table.get(key) ?? []).filter((t) => t > cutoff);
  }
}

function keyOf(account: string, address: string): string {
  return `${account}\u0000${address}`;
}
