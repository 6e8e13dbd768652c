import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Config } from "../config";
import type { RequestHandler } from "express";
import type { BodyPolicy } from "../http/body-policy";
import { clientInfo, resolveClientInfo, TrustedProxies } from "../http/client-info";
import { hasBody } from "../http/respond";
import { arrivedWhileLingering, countPushed, lingeringClose } from "../http/lingering-close";
import { DomainError } from "../kernel/errors";
import { OciError } from "../http/errors";
import { parseContentRange } from "../oci/request-parsers";
import { PathNotFoundError } from "../storage/driver";
import type { Metrics } from "../metrics/metrics";
import { callerKind, TokenBuckets } from "./rate-limit";
import type { AuthComponents } from "../auth";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The metrics label of a request: its route's pattern, set by the route table once a route matched. */
function routeOf(res: ServerResponse): string {
  return ((res as { locals?: { route?: string } }).locals?.route) ?? "unmatched";
}

/**
 * The per-request guards, as express middleware (mounted in app.ts): `track` (client address, scheme and host
 * through trusted proxies, request id, metrics: count, latency, bytes, in flight) runs first on every
 * request; `rateLimit(auth)` (anonymous callers, per address) after the ops endpoints; `enforce(policy)` is each
 * route's body policy (src/http/body-policy.ts): body limits, the whole-request timeout, upload gauges.
 */
export class RequestOps {
  private readonly proxies: TrustedProxies;
  private readonly buckets: TokenBuckets | null;
  private readonly failedCredentials: TokenBuckets | null;

  constructor(
    private readonly config: Pick<Config, "trustedProxies" | "externalUrl" | "http" | "rateLimit" | "web">,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.proxies = new TrustedProxies(config.trustedProxies);
    const { enabled, requestsPerSecond, burst } = config.rateLimit;
    this.buckets = enabled ? new TokenBuckets(requestsPerSecond, burst) : null;
    this.failedCredentials = enabled ? new TokenBuckets(requestsPerSecond, burst) : null;
  }

  readonly track: RequestHandler = (req, res, next) => {
    // Pipelined behind a refused request: the connection is closing and nothing more is served on it.
    if (arrivedWhileLingering(req)) return void req.socket.destroy();
    const info = resolveClientInfo(req, this.proxies, this.config.externalUrl);
    res.setHeader("X-Request-Id", info.requestId);
    this.instrument(req, res);
    next();
  };

  /**
   * The anonymous rate limit, per client address (mounted after the ops endpoints). Basic credentials are
   * checked by the routes: each attempt takes a token up front (so parallel guesses cannot all slip past
   * a look-only check) and gets it back unless it was answered 401, see callerKind.
   */
  rateLimit(auth: AuthComponents): RequestHandler | null {
    const anonymous = this.buckets;
    const failed = this.failedCredentials;
    if (!anonymous || !failed) return null;
    return (req, res, next) => {
      callerKind(req, auth).then((kind) => {
        if (kind === "authenticated") return next();
        const ip = clientInfo(req).ip;
        const wait = (kind === "pending" ? failed : anonymous).take(ip);
        if (wait > 0) {
          this.metrics.http.rateLimited.inc();
          const what = kind === "pending" ? "failed logins" : "anonymous requests";
          return next(new OciError("TOOMANYREQUESTS", `too many ${what} from ${ip}; retry in ${wait} s`, { headers: { "Retry-After": String(wait) } }));
        }
        if (kind === "pending") {
          // Only an answer that is not a 401 refunds: a client hanging up before the answer keeps its charge.
          res.once("finish", () => {
            if (res.statusCode !== 401) failed.refund(ip);
          });
        }
        next();
      }, next);
    };
  }

  /** The middleware enforcing one route's body policy. */
  enforce(policy: BodyPolicy): RequestHandler {
    return (req, res, next) => {
      const upload = policy.kind === "stream" && hasBody(req);
      const configured = this.config.http.maxBodyBytes;
      const stream = upload ? (policy as Extract<BodyPolicy, { kind: "stream" }>) : null;
      const limit = !stream
        ? policy.kind === "small" ? Math.min(policy.maxBytes, configured) : configured
        : stream.maxBytes(this.config, req);
      if (upload) {
        const { uploadsInProgress } = this.metrics.http;
        uploadsInProgress.inc();
        res.once("close", () => uploadsInProgress.dec());
      }
      if (limit > 0) {
        const refused = this.limitBody(req, res, limit, upload, stream ? ` (${stream.setting})` : "");
        if (refused) return next(refused);
      }
      if (!upload) this.requestTimeout(req, res);
      else this.minimumRate(req, res);
      if (policy.kind === "none" && hasBody(req)) {
        // A body nobody asked for, still arriving after the answer: close rather than read it to its end.
        res.once("finish", () => {
          if (!req.complete) lingeringClose(req, res);
        });
      }
      next();
    };
  }

  /** Called with whatever a handler threw: counts database failures (storage ones are counted by the driver). */
  observeError(err: unknown): void {
    if (isDatabaseError(err)) this.metrics.databaseErrors.inc({ source: "request" });
  }

  private instrument(req: IncomingMessage, res: ServerResponse): void {
    const { http } = this.metrics;
    const started = process.hrtime.bigint();
    const method = METHODS.has(req.method ?? "") ? req.method! : "OTHER";
    let bytesIn = 0;
    let bytesOut = 0;
    countPushed(req, (n) => (bytesIn += n));
    countWritten(res, (n) => (bytesOut += n));
    http.inFlight.inc();
    res.once("close", () => {
      http.inFlight.dec();
      const route = routeOf(res);
      const status = res.writableFinished || res.headersSent ? String(res.statusCode) : "aborted";
      http.requests.inc({ route, method, status });
      http.duration.observe({ route, method }, Number(process.hrtime.bigint() - started) / 1e9);
      if (bytesIn) http.bytesIn.inc({ route }, bytesIn);
      if (bytesOut) http.bytesOut.inc({ route }, bytesOut);
    });
  }
  private limitBody(req: IncomingMessage, res: ServerResponse, limit: number, upload: boolean, setting: string): OciError | null {
    const tooLarge = (what: string) => {
      this.metrics.http.refused.inc({ reason: "body_too_large" });
      return new OciError("SIZE_INVALID", `${what} larger than the limit of ${limit} bytes${setting}`, { status: 413 });
    };
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > limit) return tooLarge("request body");
    if (upload && req.method === "PATCH" && req.headers["content-range"]) {
      try {
        const range = parseContentRange(req.headers["content-range"]);
        if (range && range.end + 1 > limit) return tooLarge("blob");
      } catch {
        // A malformed Content-Range is the handler's to refuse.
      }
    }
    // A body without (or lying about) its length: stop it once it passes the limit.
    let received = 0;
    let over = false;
    countPushed(req, (n) => {
      received += n;
      if (received <= limit || over) return;
      over = true;
      this.metrics.http.refused.inc({ reason: "body_too_large" });
      const error = new OciError("SIZE_INVALID", `request body larger than the limit of ${limit} bytes${setting}`, { status: 413 });
      if (upload) {
        // The upload's pipeline into storage must fail, and failing destroys its source: cut it.
        req.destroy(error);
      } else {
        // A handler reading the body (readSmallBody) fails with the 413; the answer (or the one already
        // given) ends the connection with a bounded linger instead of the body being read to its end.
        if (!res.headersSent && req.listenerCount("error") > 0) req.emit("error", error);
        lingeringClose(req, res);
      }
    });
    return null;
  }

  /** Non-upload requests must arrive whole within requestTimeoutSeconds (slow-loris bodies on small routes). */
  private requestTimeout(req: IncomingMessage, res: ServerResponse): void {
    const timer = setTimeout(() => {
      if (req.complete) return;
      this.metrics.http.refused.inc({ reason: "request_timeout" });
      this.logger.info({ url: req.url, requestId: res.getHeader("X-Request-Id") }, "request not received in time; closing the connection");
      if (!res.headersSent) {
        lingeringClose(req, res);
        answer408(res, "request not received in time");
      } else {
        req.socket?.destroy();
      }
    }, this.config.http.requestTimeoutSeconds * 1000);
    timer.unref();
    res.once("close", () => clearTimeout(timer));
  }

  /**
   * Streamed bodies have no whole-request timeout, and the idle timeout is reset by every byte: one byte
   * now and then would hold an import slot or an upload for ever. Each window must bring its share.
   */
  private minimumRate(req: IncomingMessage, res: ServerResponse): void {
    const { minBodyBytesPerSecond: rate, minBodyRateWindowSeconds: window } = this.config.http;
    if (rate === 0) return;
    let received = 0;
    countPushed(req, (n) => (received += n));
    const timer = setInterval(() => {
      if (req.complete) return void clearInterval(timer);
      if (received >= rate * window) {
        received = 0;
        return;
      }
      clearInterval(timer);
      this.metrics.http.refused.inc({ reason: "body_too_slow" });
      this.logger.info({ url: req.url, requestId: res.getHeader("X-Request-Id"), bytes: received, window }, "request body slower than http.minBodyBytesPerSecond; closing the connection");
      const message = `request body slower than ${rate} bytes/s over ${window} s (http.minBodyBytesPerSecond)`;
      // The answer first, then the body is cut: the handler's read fails, and whatever it holds (an import
      // slot, an upload) is released by its own error path.
      const cut = () => req.destroy(new OciError("INVALID_REQUEST", message, { status: 408 }));
      if (res.headersSent) return cut();
      res.setHeader("Connection", "close");
      answer408(res, message, cut);
    }, window * 1000);
    timer.unref();
    res.once("close", () => clearInterval(timer));
  }
}

function answer408(res: ServerResponse, message: string, then?: () => void): void {
  const body = JSON.stringify(new OciError("INVALID_REQUEST", message).toBody());
  res.writeHead(408, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body, then);
}

function countWritten(res: ServerResponse, onBytes: (n: number) => void): void {
  const size = (chunk: unknown, encoding: unknown) =>
    typeof chunk === "string" ? Buffer.byteLength(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8") : chunk instanceof Uint8Array ? chunk.length : 0;
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    onBytes(size(chunk, rest[0]));
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== "function") onBytes(size(chunk, rest[0]));
    return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as typeof res.end;
}

/** Prisma, its driver adapters and pg report database failures under these names and codes. */
export function isDatabaseError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof PathNotFoundError || e instanceof OciError || e instanceof DomainError) return false;
    const name = (e as Error).name ?? "";
    const ctor = (e as object).constructor?.name ?? "";
    if (/^Prisma|DriverAdapterError/.test(name) || /^Prisma|DriverAdapterError|DatabaseError/.test(ctor)) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^P\d{4}$/.test(code)) return true;
  }
  return false;
}
