import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { RouteTable } from "../http/route-table";
import { send, sendJson } from "../http/respond";
import { OciError } from "../http/errors";
import type { Health } from "./health";
import type { Metrics } from "../metrics/metrics";

export interface OpsRouteDeps {
  health: Health;
  metrics: Metrics;
  logger: Logger;
  config: { metrics: { enabled: boolean; token?: string } };
}

/**
 * GET|HEAD /healthz — the process is up (liveness): always 200 while it can answer.
 * GET|HEAD /readyz  — ready for traffic: database and storage answer, not shutting down; else 503.
 * GET /metrics      — Prometheus text format (optionally behind a bearer token).
 * None needs registry credentials, and the rate limiter leaves them alone.
 */
export function registerOpsRoutes(router: RouteTable, deps: OpsRouteDeps): void {
  const noStore = { "Cache-Control": "no-store" };
  router.on(["GET", "HEAD"], /^\/healthz$/, async (ctx) => sendJson(ctx.res, 200, noStore, { status: "ok" }));
  router.on(["GET", "HEAD"], /^\/readyz$/, async (ctx) => {
    const readiness = await deps.health.readiness();
    if (readiness.checks.database && !readiness.checks.database.ok) deps.metrics.databaseErrors.inc({ source: "readiness" });
    if (!readiness.ready) deps.logger.warn({ checks: readiness.checks, draining: readiness.draining }, "not ready");
    // Failure details go to the log only: they may name hosts and paths.
    const checks = Object.fromEntries(Object.entries(readiness.checks).map(([name, c]) => [name, { ok: c.ok, ms: c.ms }]));
    sendJson(ctx.res, readiness.ready ? 200 : 503, noStore, {
      status: readiness.ready ? "ready" : readiness.draining ? "shutting down" : "not ready",
      checks,
    });
  });
  if (!deps.config.metrics.enabled) return;
  const token = deps.config.metrics.token;
  router.on("GET", /^\/metrics$/, async (ctx) => {
    if (token && !bearerMatches(ctx.req.headers.authorization, token)) {
      throw new OciError("UNAUTHORIZED", "metrics need the configured bearer token", { headers: { "WWW-Authenticate": 'Bearer realm="metrics"' } });
    }
    const { contentType, body } = await deps.metrics.render((err) => deps.logger.warn({ err }, "a metrics collector failed"));
    send(ctx.res, 200, { "Content-Type": contentType, ...noStore }, body);
  });
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  const given = Buffer.from(m[1].trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
