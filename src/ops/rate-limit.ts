import type { IncomingMessage } from "node:http";
import type { AuthComponents } from "../auth";
import { parseBasic, parseBearer } from "../auth/authenticator";
import { InvalidTokenError } from "../auth/tokens";
import { requestSession } from "../http/session-cookie";

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
    return this.refill(key);
  }

  /** Gives back a token taken for a request that turned out not to need it. */
  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
  }

  private refill(key: string): number {
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
 * How the rate limiter counts a request, decided by checking its credentials rather than their shape
 * (any non-Bearer header used to skip the limit):
 * - "authenticated": a verified access token naming an account, or a live web session — never limited;
 * - "anonymous": no credentials, credentials we do not understand, an anonymous or invalid token, a
 *   session cookie that resolves to nothing — limited up front;
 * - "pending": well-formed Basic credentials. Checking a password here would cost a second hash and count
 *   failures twice in the login throttle, so the limiter keeps a second budget per address, spent by
 *   answers of 401 (failed credentials) and checked before the next such request. It is not the anonymous
 *   budget: a browser's anonymous requests must not lock a real login out of the same address.
 */
export type CallerKind = "authenticated" | "anonymous" | "pending";

export async function callerKind(req: IncomingMessage, auth: AuthComponents): Promise<CallerKind> {
  if (!auth.token) return "anonymous"; // auth off: no credential means anything
  const { tokens, sessions } = auth.token;
  const header = req.headers.authorization;
  const bearer = parseBearer(header);
  if (bearer) {
    try {
      return (await tokens.verifyAccess(bearer)).account ? "authenticated" : "anonymous";
    } catch (err) {
      if (err instanceof InvalidTokenError) return "anonymous";
      throw err;
    }
  }
  if (parseBasic(header)) return "pending";
  if (header) return "anonymous"; // a scheme nobody here understands
  if (await requestSession(req, sessions)) return "authenticated";
  return "anonymous";
}
