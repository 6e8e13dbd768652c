import type { IRouter, RequestHandler } from "express";
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
        const guard = enforce(policy);
        const run = adapt(pattern, handler);
        route[method.toLowerCase() as "get"]((req, res, next) => {
          res.locals.route = label;
          if (!guard) return run(req, res, next);
          guard(req, res, (err?: unknown) => (err ? next(err) : run(req, res, next)));
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
}

function adapt(pattern: RegExp, handler: Handler): RequestHandler {
  return (req, res, next) => {
    const url = req.originalUrl;
    const q = url.indexOf("?");
    const path = req.path;
    const params = pattern.exec(path)?.slice(1) ?? [];
    handler({ req, res, path, query: new URLSearchParams(q === -1 ? "" : url.slice(q + 1)), params }).catch(next);
  };
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
