import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { Router } from "./http/router";
import { sendJson } from "./http/respond";
import { OciError } from "./kernel/errors";
import { toOciError } from "./oci/errors";
import { registerOciRoutes } from "./oci/routes";
import { tokenHandlers } from "./auth/token-handler";
import { registerAdminRoutes } from "./admin/routes";
import { registerRuleRoutes } from "./admin/rule-routes";
import { registerWebRoutes } from "./web/routes";
import { WebStatic } from "./web/static";
import type { Deps } from "./deps";
import { registerOpsRoutes } from "./ops/routes";
import { clientInfo } from "./http/client-info";
import { gcApiOf } from "./admin/gc-adapter";

export type AppDeps = Pick<Deps, "services" | "logger" | "auth" | "audit" | "events" | "mirror" | "config" | "stores" | "store" | "gc"> &
  Partial<Pick<Deps, "ops">>;

/** The whole HTTP surface as a request listener; it never listens itself, so tests mount it on port 0. */
export function buildApp(deps: AppDeps): RequestListener {
  const router = new Router();
  registerOciRoutes(router, {
    services: deps.services,
    authorizer: deps.auth.authorizer,
    audit: deps.events,
    namespaced: deps.mirror ? (ns, name) => deps.mirror!.routing.router.namespaced(ns, name) : undefined,
  });
  if (deps.auth.token) {
    const token = tokenHandlers({ ...deps.auth.token, events: deps.events });
    router.on("GET", /^\/token\/?$/, token.get).on("POST", /^\/token\/?$/, token.post);
  }
  registerAdminRoutes(router, deps);
  registerRuleRoutes(router, deps);
  if (deps.ops) registerOpsRoutes(router, { ...deps.ops, logger: deps.logger, config: deps.config });
  registerWebRoutes(router, { ...deps, gc: gcApiOf(deps.gc), immutability: deps.gc.rules });
  // The web UI answers GET/HEAD for its own paths (/, /assets/…, /repositories/…) that no route knows.
  const web = deps.config.web.enabled ? WebStatic.default() : null;

  return (req, res) => {
    const started = process.hrtime.bigint();
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? "" : url.slice(q + 1));
    const isRegistryApi = path === "/v2" || path.startsWith("/v2/");
    if (isRegistryApi) res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    res.once("close", () => logRequest(deps.logger, req, res, url, started));
    const match = router.match(req.method ?? "GET", path);
    // Client address through trusted proxies, metrics, body limits, timeouts, the anonymous rate limit.
    const refused = deps.ops?.requests.begin(req, res, match?.route ?? "unmatched");
    if (refused) return renderError(deps.logger, req, res, refused);

    if (deps.mirror && String(req.headers.via ?? "").includes(deps.mirror.viaToken)) {
      // Our own upstream request came back to us: the mirror is configured to mirror itself.
      return renderError(deps.logger, req, res, new OciError("UNAVAILABLE", "mirror loop detected (Via)", { status: 508 }));
    }
    if (!match && web?.serves(req.method, path)) return void web.serve(req, res, path).catch((err: unknown) => renderError(deps.logger, req, res, err));
    if (!match) return renderError(deps.logger, req, res, new OciError("NOT_FOUND", { path: path.slice(0, 200) }));
    if ("allowed" in match) {
      return renderError(deps.logger, req, res, new OciError("UNSUPPORTED", `${req.method} is not allowed here`, { headers: { Allow: match.allowed.join(", ") } }));
    }
    match.handler({ req, res, path, query, params: match.params }).catch((err: unknown) => {
      deps.ops?.requests.observeError(err);
      renderError(deps.logger, req, res, err);
    });
  };
}

function renderError(logger: Logger, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const error = toOciError(err);
  if (error.status >= 500) logger.error({ err: error.cause ?? err, code: error.code }, "request failed");
  if (res.headersSent) {
    // Mid-stream failure: the only honest signal left is to cut the connection.
    res.destroy(error);
    return;
  }
  // A body we stopped reading half-way cannot be skipped reliably: end the connection after answering.
  // (A body never touched is drained by Node itself, keeping the connection; one read half-way is not.)
  if (!req.complete && req.readableDidRead) res.setHeader("Connection", "close");
  sendJson(res, error.status, error.headers, error.toBody());
}

function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, url: string, started: bigint): void {
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
}
