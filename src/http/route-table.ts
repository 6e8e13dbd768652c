import type { IRouter, NextFunction, Request, RequestHandler, Response } from "express";
import { OciError } from "./errors";
import { NO_BODY, type BodyPolicy } from "./body-policy";
import type { Handler } from "./context";

export interface RouteDescription {
  pattern: RegExp;
  methods: string[];
}

/** Turns a route's body policy into the middleware that enforces it (none where nothing is enforced). */
export type BodyEnforcer = (policy: BodyPolicy) => RequestHandler | null;

interface Route {
  pattern: RegExp;
  label: string;
  methods: Map<string, { handler: Handler; policy: BodyPolicy }>;
}

/**
 * One area's routes (the registry API, the token endpoint, the admin API…), registered as regular
 * expressions over the raw path with a body policy each, and mounted on the express application. Repository names
 * contain slashes, so the OCI routes are anchored on what follows the name (`/manifests/<ref>`), which
 * regexes say plainly. HEAD is served wherever GET is; a path whose route lacks the method answers 405 with Allow.
 */
export class RouteTable {
  private readonly routes: Route[] = [];

  on(methods: string | string[], pattern: RegExp, handler: Handler, policy: BodyPolicy = NO_BODY): this {
    let route = this.routes.find((r) => r.pattern.source === pattern.source);
    if (!route) {
      route = { pattern, label: routeLabel(pattern), methods: new Map() };
      this.routes.push(route);
    }
    for (const method of Array.isArray(methods) ? methods : [methods]) route.methods.set(method, { handler, policy });
    return this;
  }

  /** Every route with its methods: the HTTP surface as data (the hostile-input test walks it). */
  describe(): RouteDescription[] {
    return this.routes.map((r) => ({ pattern: r.pattern, methods: [...r.methods.keys()] }));
  }

  /**
   * Registers the routes on `app` itself rather than on a nested Router: leaving a Router that did not
   * answer costs express a setImmediate, which every request would pay once per area it passes.
   */
  mount(app: IRouter, enforce: BodyEnforcer): void {
    for (const { pattern, label, methods } of this.routes) {
      // express percent-decodes regex captures (and answers 400 for a malformed escape) before any handler
      // runs; our grammars want them raw, so express matches a capture-free copy and the handler re-reads
      // the captures from the raw path.
      const route = app.route(withoutCaptures(pattern));
      for (const [method, { handler, policy }] of methods) {
        // One layer per route and method: every layer express walks through costs a dispatch.
        const run = guarded(handler, enforce(policy));
        route[method.toLowerCase() as "get"]((req, res, next) => {
          res.locals.route = label;
          run(req, res, next, pattern.exec(req.path)?.slice(1) ?? []);
        });
      }
      // express answers HEAD with the GET handler (node drops the body), as HTTP asks of every GET resource.
      const allowed = [...methods.keys(), ...(methods.has("GET") && !methods.has("HEAD") ? ["HEAD"] : [])].join(", ");
      const notAllowed: RequestHandler = (req, res, next) => {
        res.locals.route = label;
        next(new OciError("UNSUPPORTED", `${req.method} is not allowed here`, { headers: { Allow: allowed } }));
      };
      route.all(notAllowed);
    }
  }

  /**
   * The whole table as ONE express layer that matches the raw path against its own routes, in
   * registration order (first match wins, as with one express route per pattern), for the area every
   * registry client hammers (/v2). Why: express walks its stack layer by layer, and each layer costs a
   * path-to-regexp match plus a `next()` hop; a cached manifest GET used to pay ~26 µs of CPU walking the
   * earlier /v2 routes alone (issue 13's benchmark gate). `prefix` is a cheap string test that lets
   * every other path pass straight on. Nothing else changes: the same patterns (captures read raw,
   * never percent-decoded), the same body policy per route and method, the same metrics label, and a
   * method the matched route lacks is 405 with Allow; a path no route knows falls through to the rest of
   * the application (next()), exactly as it did before. Registered routes remain listed by describe().
   */
  dispatcher(prefix: string, enforce: BodyEnforcer): RequestHandler {
    const compiled = this.routes.map(({ pattern, label, methods }) => {
      const runs = new Map<string, Run>();
      for (const [method, { handler, policy }] of methods) runs.set(method, guarded(handler, enforce(policy)));
      // HEAD is served by the GET handler where no HEAD handler is declared, as express does (node drops the body).
      const get = runs.get("GET");
      if (get && !runs.has("HEAD")) runs.set("HEAD", get);
      return { pattern, label, runs, allowed: [...runs.keys()].join(", ") };
    });
    return (req, res, next) => {
      const path = req.path;
      if (path !== prefix && !path.startsWith(prefix + "/")) return next();
      for (const route of compiled) {
        const match = route.pattern.exec(path);
        if (!match) continue;
        res.locals.route = route.label;
        const run = route.runs.get(req.method);
        if (run) return run(req, res, next, match.slice(1));
        return next(new OciError("UNSUPPORTED", `${req.method} is not allowed here`, { headers: { Allow: route.allowed } }));
      }
      next();
    };
  }
}

type Run = (req: Request, res: Response, next: NextFunction, params: string[]) => void;

/** A handler behind its route's body policy; `params` are the pattern's captures over the raw path. */
function guarded(handler: Handler, guard: RequestHandler | null): Run {
  const invoke: Run = (req, res, next, params) => {
    const url = req.originalUrl;
    const q = url.indexOf("?");
    handler({ req, res, path: req.path, query: new URLSearchParams(q === -1 ? "" : url.slice(q + 1)), params }).catch(next);
  };
  if (!guard) return invoke;
  return (req, res, next, params) => guard(req, res, (err?: unknown) => (err ? next(err) : invoke(req, res, next, params)));
}

function withoutCaptures(pattern: RegExp): RegExp {
  return new RegExp(pattern.source.replace(/(?<!\\)\((?!\?)/g, "(?:"), pattern.flags);
}

/**
 * A route's regular expression as a path template, for metrics labels (bounded, unlike raw paths):
 * a `(.+)` group becomes {name} (repository names hold slashes), any other group {ref}.
 */
export function routeLabel(pattern: RegExp): string {
  return (
    pattern.source
      .replace(/^\^/, "")
      .replace(/\$$/, "")
      .replace(/\\\/\?$/, "")
      .replace(/\(\.\+\)/g, "{name}")
      .replace(/\((?!\?)(?:[^()\\]|\\.)*\)/g, "{ref}")
      .replace(/\\(.)/g, "$1") || "/"
  );
}
