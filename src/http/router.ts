import type { IncomingMessage, ServerResponse } from "node:http";
import type { Grant } from "../auth/authorizer";

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  /** The route pattern's capture groups, raw (never percent-decoded: every one is validated by a grammar). */
  params: string[];
  /** Set by the route's access guard: who is acting and what they may do. */
  grant?: Grant;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

interface Route {
  pattern: RegExp;
  /** The pattern as a readable template ("/v2/{name}/blobs/{ref}"): the route label in metrics. */
  label: string;
  handlers: Map<string, Handler>;
}

export type RouteMatch = { handler: Handler; params: string[]; route: string } | { allowed: string[]; route: string } | null;

/**
 * A deliberately tiny router: ordered regular expressions over the raw path. Repository names contain
 * slashes, so the OCI routes are matched by their suffix (`/manifests/<ref>`), which regexes say plainly.
 */
export class Router {
  private readonly routes: Route[] = [];

  on(methods: string | string[], pattern: RegExp, handler: Handler): this {
    let route = this.routes.find((r) => r.pattern.source === pattern.source);
    if (!route) {
      route = { pattern, label: routeLabel(pattern), handlers: new Map() };
      this.routes.push(route);
    }
    for (const method of Array.isArray(methods) ? methods : [methods]) route.handlers.set(method, handler);
    return this;
  }

  /** A handler, or the methods the path allows (→ 405), or null when no route knows the path (→ 404). */
  match(method: string, path: string): RouteMatch {
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      const handler = route.handlers.get(method);
      if (handler) return { handler, params: m.slice(1), route: route.label };
      return { allowed: [...route.handlers.keys()], route: route.label };
    }
    return null;
  }
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
