import express, { type Express, type RequestHandler } from "express";
import type { Logger } from "pino";
import { RouteTable, type BodyEnforcer, type RouteDescription } from "./http/route-table";
import { errorHandler, notFound } from "./http/error-handler";
import { NO_BODY } from "./http/body-policy";
import { OciError } from "./http/errors";
import { registerOciRoutes } from "./oci/routes";
import { registerTokenRoutes } from "./oci/token-handler";
import { registerAdminRoutes } from "./admin/routes";
import { registerRuleRoutes } from "./admin/rule-routes";
import { registerRobotRoutes } from "./admin/robot-routes";
import { registerWebhookRoutes } from "./admin/webhook-routes";
import { registerSettingsRoutes } from "./admin/settings-api";
import { registerAuditRoutes } from "./admin/audit-routes";
import { registerWebRoutes } from "./web/routes";
import { webUi } from "./web/static";
import type { Deps } from "./deps";
import { registerOpsRoutes } from "./ops/routes";
import { clientInfo } from "./http/client-info";
import { urlTextGuard } from "./http/input-text";
import { gcApiOf } from "./admin/gc-adapter";
import { laneUnder, mountLane } from "./http/fast-lane";
import { refusalAudit } from "./http/refusal-audit";

export type AppDeps = Pick<Deps, "services" | "logger" | "auth" | "audit" | "events" | "mirror" | "config" | "stores" | "store" | "gc" | "access"> &
  Partial<Pick<Deps, "ops">>;

/**
 * The whole HTTP surface as an express application; it never listens itself (server.ts and
 * ops/listeners.ts create the server), so tests mount it on port 0. Order matters: the cross-cutting
 * middleware first, the ops endpoints and the UI before the rate limiter, each area's router, then 404 and
 * the one error renderer. Requests under /v2 take the registry lane (http/fast-lane.ts): the same
 * middleware, routes and renderer in the same order, without express's per-request set-up.
 */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  const requests = deps.ops?.requests;
  const enforce: BodyEnforcer = (policy) => requests?.enforce(policy) ?? null;
  const routes: RouteDescription[] = [];
  // The registered routes, readable from outside as app.locals.routes.
  app.locals.routes = routes;
  // What a /v2 request passes through, in the same order as in `app`: the registry lane runs exactly
  // this list (see http/fast-lane.ts); `everywhere` registers a middleware on both.
  const registryStack: RequestHandler[] = [];
  const everywhere = (handler: RequestHandler) => {
    app.use(handler);
    registryStack.push(handler);
  };
  const area = (register: (table: RouteTable) => void, oneLayerUnder?: string) => {
    const table = new RouteTable();
    register(table);
    if (oneLayerUnder) everywhere(table.dispatcher(oneLayerUnder, enforce));
    else table.mount(app, enforce);
    const described = table.describe();
    // The registry lane never reaches these areas; none of them may claim a /v2 path.
    const strays = oneLayerUnder ? [] : described.filter((r) => /^\^\\\/v2(?![a-z0-9])/i.test(r.pattern.source));
    if (strays.length) throw new Error(`routes under /v2 outside the registry area: ${strays.map((r) => r.pattern.source).join(", ")}`);
    routes.push(...described);
  };

  everywhere(noSniff);
  everywhere(requestLog(deps.logger));
  if (requests) everywhere(requests.track);
  everywhere(registryHeaders(deps));
  everywhere(urlTextGuard);
  if (deps.ops) {
    const ops = deps.ops;
    area((table) => registerOpsRoutes(table, { ...ops, logger: deps.logger, config: deps.config }));
  }
  // The web UI's own paths (/, /assets/…, /repositories/…; no route shares them) before the rate limiter:
  // its public static files must not spend a browser's anonymous tokens, nor ask who the caller is.
  if (deps.config.web.enabled) app.use(webUi(enforce(NO_BODY)));
  const rateLimit = requests?.rateLimit(deps.auth);
  if (rateLimit) everywhere(rateLimit);
  area((table) =>
    registerOciRoutes(table, {
      services: deps.services,
      authorizer: deps.auth.authorizer,
      audit: deps.events,
      namespaced: deps.mirror ? (ns, name) => deps.mirror!.routing.router.namespaced(ns, name) : undefined,
    }),
    // The registry API, hot for every client, as one layer that dispatches itself (RouteTable.dispatcher).
    "/v2",
  );
  const token = deps.auth.token;
  if (token) area((table) => registerTokenRoutes(table, { ...token, events: deps.events }));
  area((table) => {
    registerAdminRoutes(table, deps);
    registerRuleRoutes(table, deps);
    registerRobotRoutes(table, deps);
    const ops = deps.ops;
    if (ops) {
      const { endpoints } = deps.config.notifications;
      registerWebhookRoutes(table, { ...deps, webhooks: deps.stores.webhooks, delivery: ops.projectWebhooks, configured: endpoints });
    }
    registerSettingsRoutes(table, { ...deps, gcSettings: deps.gc.settings });
    registerAuditRoutes(table, deps);
  });
  area((table) => registerWebRoutes(table, { ...deps, gc: gcApiOf(deps.gc), immutability: deps.gc.rules }));
  const unmatched = enforce(NO_BODY);
  if (unmatched) everywhere(unmatched);
  everywhere(notFound);
  const onError = [refusalAudit(deps.events, deps.auth.token?.tokens), errorHandler(deps.logger, requests ? (err) => requests.observeError(err) : undefined)];
  for (const handler of onError) app.use(handler);
  mountLane(app, laneUnder("/v2", registryStack, onError));
  return app;
}

/** Browsers must never guess a type for what we serve (a blob or an error rendered as HTML would be XSS). */
const noSniff: RequestHandler = (_req, res, next) => {
  res.setHeader("X-Content-Type-Options", "nosniff");
  next();
};

/** The registry API's version header on everything under /v2, and the mirror's loop check (Via). */
function registryHeaders(deps: AppDeps): RequestHandler {
  const viaToken = deps.mirror?.viaToken;
  return (req, res, next) => {
    if (req.path === "/v2" || req.path.startsWith("/v2/")) res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    if (viaToken && String(req.headers.via ?? "").includes(viaToken)) {
      // Our own upstream request came back to us: the mirror is configured to mirror itself.
      return next(new OciError("UNAVAILABLE", "mirror loop detected (Via)", { status: 508 }));
    }
    next();
  };
}

function requestLog(logger: Logger): RequestHandler {
  // One line per request is an info-level log: below that level nothing is timed or listened for.
  if (!logger.isLevelEnabled("info")) return (_req, _res, next) => next();
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const url = req.url;
    res.once("close", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info(
        {
          method: req.method,
          url,
          ip: clientInfo(req).ip,
          status: res.statusCode,
          bytesIn: req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]),
          bytesOut: Number(res.getHeader("content-length") ?? 0),
          ms: Math.round(ms * 100) / 100,
          aborted: !res.writableFinished || undefined,
        },
        "request",
      );
    });
    next();
  };
}
