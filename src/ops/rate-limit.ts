import type { IncomingMessage } from "node:http";

/**
 * A token bucket per key (the client address): `burst` requests at once, refilled at `ratePerSecond`.
 * Kept in process memory and bounded: beyond maxKeys the least recently seen addresses are forgotten
 * (a forgotten address starts again with a full bucket, which only ever errs on the generous side).
 * Not express-rate-limit: its stores count requests per fixed window, while `rateLimit` is configured as a
 * steady rate with a burst (a client that paces itself is never refused) and Retry-After says exactly
 * when the next token comes.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token: 0 when allowed, else the seconds until one is available (for Retry-After). */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    this.buckets.delete(key); // re-inserted below: Map order doubles as least-recently-seen order
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
    bucket.at = now;
    let wait = 0;
    if (bucket.tokens >= 1) bucket.tokens -= 1;
    else wait = Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond));
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return wait;
  }

  get size(): number {
    return this.buckets.size;
  }
}

/**
 * Whether a request counts as anonymous for rate limiting: no credentials, or a Bearer token whose subject
 * is empty (the anonymous tokens /token hands out). The token is only decoded here, not verified: a forged
 * subject merely skips the limiter to be refused by the authorizer a moment later. Basic credentials are
 * not anonymous; guessing them is slowed by the login throttle instead.
 */
export function isAnonymous(req: IncomingMessage): boolean {
  const header = req.headers.authorization;
  if (!header) return true;
  const bearer = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$/i.exec(header.trim());
  if (!bearer) return false;
  try {
    const claims = JSON.parse(Buffer.from(bearer[2], "base64url").toString("utf8")) as { sub?: unknown };
    return !claims.sub;
  } catch {
    return true;
  }
}
