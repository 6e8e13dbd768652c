import type { Handler, RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { sendJson } from "../http/respond";
import { OciError } from "../http/errors";
import type { Actor } from "../events/event-bus";
import type { GcReport, GcRun, StorageUsage } from "./gc-types";

export type { GcReport, GcRun, StorageUsage };

/**
 * The garbage collector as the web UI sees it. The GC itself lives on another branch: whoever builds it
 * injects an implementation as `deps.gc` (see Deps); until then these routes answer "not available" and
 * the UI says so.
 */
export interface GcService {
  /** Storage use, from the metadata. */
  usage(): Promise<StorageUsage>;
  /** What a run would delete now, deleting nothing; recorded as asked by `actor`. */
  dryRun(actor: Actor): Promise<GcReport>;
  /** Runs a collection now (one at a time: a second caller waits or gets CONFLICT); recorded as asked by `actor`. */
  run(actor: Actor): Promise<GcReport>;
  /** Past runs, newest first. */
  history(limit: number): Promise<GcRun[]>;
}

export interface GcRouteDeps {
  /** Read at request time, so the service can be wired (or swapped in a test) after start-up. */
  gc: () => GcService | null | undefined;
  /** Resolves the caller and throws unless it is an administrator; returns who acts (for the GC run's event). */
  requireAdmin: (ctx: RequestContext) => Promise<Actor>;
}

/** GET /api/v1/gc, GET /api/v1/storage, POST /api/v1/gc/dry-run, POST /api/v1/gc/runs, GET /api/v1/gc/runs. */
export function registerGcRoutes(router: RouteTable, deps: GcRouteDeps): void {
  const admin = (handler: (ctx: RequestContext, actor: Actor) => Promise<unknown>, status = 200): Handler => async (ctx) => {
    const actor = await deps.requireAdmin(ctx);
    const value = await handler(ctx, actor);
    sendJson(ctx.res, status, { "Cache-Control": "no-store" }, value);
  };
  const service = (): GcService => {
    const gc = deps.gc();
    if (!gc) throw new OciError("UNAVAILABLE", "garbage collection is not available in this build");
    return gc;
  };
  router
    .on("GET", /^\/api\/v1\/gc$/, admin(async () => ({ available: !!deps.gc() })))
    .on("GET", /^\/api\/v1\/storage$/, admin(async () => service().usage()))
    .on("POST", /^\/api\/v1\/gc\/dry-run$/, admin(async (_ctx, actor) => service().dryRun(actor)))
    .on("POST", /^\/api\/v1\/gc\/runs$/, admin(async (_ctx, actor) => service().run(actor)))
    .on("GET", /^\/api\/v1\/gc\/runs$/, admin(async (ctx) => {
      const limit = Number(ctx.query.get("limit") ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new OciError("INVALID_REQUEST", "limit must be 1..500");
      return service().history(limit);
    }));
}
