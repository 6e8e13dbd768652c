import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Config } from "../config";
import { resolveClientInfo, TrustedProxies } from "../http/client-info";
import { DomainError } from "../kernel/errors";
import { OciError } from "../http/errors";
import { parseContentRange } from "../oci/request-parsers";
import { PathNotFoundError } from "../storage/driver";
import type { Metrics } from "../metrics/metrics";
import { isAnonymous, TokenBuckets } from "./rate-limit";

/** Route labels of the operational endpoints: never rate limited, never subject to body limits. */
export const OPS_ROUTES = new Set(["/healthz", "/readyz", "/metrics"]);

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * What every request goes through before its handler (called from app.ts with the matched route pattern):
 * client address/scheme/host through trusted proxies, metrics (count, latency, bytes, in flight, uploads),
 * body limits, the whole-request timeout on non-upload routes, and the anonymous rate limit.
 * begin() returns an error to answer instead of running the handler, or null.
 */
export class RequestOps {
  private readonly proxies: TrustedProxies;
  private readonly buckets: TokenBuckets | null;

  constructor(
    private readonly config: Pick<Config, "trustedProxies" | "externalUrl" | "http" | "rateLimit">,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.proxies = new TrustedProxies(config.trustedProxies);
    this.buckets = config.rateLimit.enabled ? new TokenBuckets(config.rateLimit.requestsPerSecond, config.rateLimit.burst) : null;
  }

  begin(req: IncomingMessage, res: ServerResponse, route: string): OciError | null {
    const info = resolveClientInfo(req, this.proxies, this.config.externalUrl);
    res.setHeader("X-Request-Id", info.requestId);
    const upload = isUploadBody(req, route);
    this.instrument(req, res, route, upload);

    if (OPS_ROUTES.has(route)) return null;
    if (this.buckets && isAnonymous(req)) {
      const wait = this.buckets.take(info.ip);
      if (wait > 0) {
        this.metrics.http.rateLimited.inc();
        return new OciError("TOOMANYREQUESTS", `too many anonymous requests from ${info.ip}; retry in ${wait} s`, {
          headers: { "Retry-After": String(wait) },
        });
      }
    }
    const limit = upload ? this.config.http.maxBlobBytes : this.config.http.maxBodyBytes;
    if (limit > 0) {
      const refused = this.limitBody(req, res, limit, upload);
      if (refused) return refused;
    }
    if (!upload) this.requestTimeout(req, res);
    return null;
  }

  /** Called with whatever a handler threw: counts database failures (storage ones are counted by the driver). */
  observeError(err: unknown): void {
    if (isDatabaseError(err)) this.metrics.databaseErrors.inc({ source: "request" });
  }

  private instrument(req: IncomingMessage, res: ServerResponse, route: string, upload: boolean): void {
    const { http } = this.metrics;
    const started = process.hrtime.bigint();
    const method = METHODS.has(req.method ?? "") ? req.method! : "OTHER";
    let bytesIn = 0;
    let bytesOut = 0;
    countPushed(req, (n) => (bytesIn += n));
    countWritten(res, (n) => (bytesOut += n));
    http.inFlight.inc();
    if (upload) http.uploadsInProgress.inc();
    res.once("close", () => {
      http.inFlight.dec();
      if (upload) http.uploadsInProgress.dec();
      const status = res.writableFinished || res.headersSent ? String(res.statusCode) : "aborted";
      http.requests.inc({ route, method, status });
      http.duration.observe({ route, method }, Number(process.hrtime.bigint() - started) / 1e9);
      if (bytesIn) http.bytesIn.inc({ route }, bytesIn);
      if (bytesOut) http.bytesOut.inc({ route }, bytesOut);
    });
  }

  private limitBody(req: IncomingMessage, res: ServerResponse, limit: number, upload: boolean): OciError | null {
    const tooLarge = (what: string) => {
      this.metrics.http.refused.inc({ reason: "body_too_large" });
      return new OciError("SIZE_INVALID", `${what} larger than the limit of ${limit} bytes`, { status: 413 });
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
      const error = new OciError("SIZE_INVALID", `request body larger than the limit of ${limit} bytes`, { status: 413 });
      if (upload || res.headersSent) {
        // Nothing else bounds an upload body (or the discarding of an unread one after the answer): cut it.
        req.destroy(error);
      } else {
        // A handler reading the body (readSmallBody) fails with the 413, which is answered with
        // Connection: close; whatever still arrives after the answer is cut there.
        if (req.listenerCount("error") > 0) req.emit("error", error);
        res.once("finish", () => {
          if (!req.complete) req.socket?.destroy();
        });
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
        const body = JSON.stringify(new OciError("INVALID_REQUEST", "request not received in time").toBody());
        res.writeHead(408, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), Connection: "close" });
        res.end(body, () => req.socket?.destroy());
      } else {
        req.socket?.destroy();
      }
    }, this.config.http.requestTimeoutSeconds * 1000);
    timer.unref();
    res.once("close", () => clearTimeout(timer));
  }
}

/** POST, PATCH or PUT under /blobs/uploads carrying a body: the long-running, streaming requests. */
function isUploadBody(req: IncomingMessage, route: string): boolean {
  if (!route.includes("/blobs/uploads")) return false;
  if (req.method !== "POST" && req.method !== "PATCH" && req.method !== "PUT") return false;
  const length = req.headers["content-length"];
  return length !== undefined ? Number(length) > 0 : req.headers["transfer-encoding"] !== undefined;
}

/**
 * Counts request body bytes as the HTTP parser hands them over, without consuming the stream (a 'data'
 * listener would switch it to flowing mode under the handler's feet).
 */
function countPushed(req: IncomingMessage, onBytes: (n: number) => void): void {
  const push = req.push;
  req.push = function (chunk: unknown, encoding?: BufferEncoding) {
    if (chunk) onBytes(typeof chunk === "string" ? Buffer.byteLength(chunk, encoding) : (chunk as Uint8Array).length);
    return push.call(this, chunk, encoding);
  };
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
