import type { Handler, RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { sendJson } from "../http/respond";
import { OciError } from "../http/errors";
import { readJson } from "../http/json-body";
import { smallBody } from "../http/body-policy";
import { csvRecord, writeAttachment } from "../http/attachment";
import { GcSettingsInputSchema, type GcSettingsInput } from "../config/gc";
import type { Actor, EventSink, RequestSummary } from "../events/event-bus";
import type { GcHeldBack, GcLogEntry, GcReport, GcRun, GcSettings, StorageUsage } from "./gc-types";

export type { GcHeldBack, GcLogEntry, GcReport, GcRun, GcSettings, StorageUsage };

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
  /** What the run deleted, in order; null when there is no such run. */
  log(runId: number): Promise<AsyncIterable<GcLogEntry[]> | null>;
  settings(): Promise<GcSettings>;
  /** Stores the changes (null: back to the configured value); returns the settings now and what changed. */
  updateSettings(input: GcSettingsInput, by: string): Promise<{ settings: GcSettings; changes: Array<{ key: string; value: unknown; reset?: true }> }>;
}

export interface GcRouteDeps {
  /** Read at request time, so the service can be wired (or swapped in a test) after start-up. */
  gc: () => GcService | null | undefined;
  /** Resolves the caller and throws unless it is an administrator; returns who acts, from where. */
  requireAdmin: (ctx: RequestContext) => Promise<{ actor: Actor; request: RequestSummary }>;
  /** Where a settings change is recorded ("setting.changed"). */
  events: EventSink;
}

/**
 * GET /api/v1/gc, GET /api/v1/storage, POST /api/v1/gc/dry-run, POST /api/v1/gc/runs, GET /api/v1/gc/runs,
 * GET /api/v1/gc/runs/{id}/log, GET and PUT /api/v1/gc/settings.
 */
export function registerGcRoutes(router: RouteTable, deps: GcRouteDeps): void {
  const admin = (handler: (ctx: RequestContext, actor: Actor) => Promise<unknown>, status = 200): Handler => async (ctx) => {
    const { actor } = await deps.requireAdmin(ctx);
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
    }))
    .on("GET", /^\/api\/v1\/gc\/runs\/([^/]+)\/log$/, async (ctx) => {
      await deps.requireAdmin(ctx);
      await sendLog(ctx, service());
    })
    .on("GET", /^\/api\/v1\/gc\/settings$/, admin(async () => service().settings()))
    .on("PUT", /^\/api\/v1\/gc\/settings$/, async (ctx) => {
      const origin = await deps.requireAdmin(ctx);
      const input = await readJson(ctx, GcSettingsInputSchema, MAX_SETTINGS_BYTES);
      const { settings, changes } = await service().updateSettings(input, origin.actor.name);
      for (const change of changes) {
        deps.events.record({ ...origin, action: "setting.changed", reference: `setting ${change.key}`, detail: change });
      }
      sendJson(ctx.res, 200, { "Cache-Control": "no-store" }, settings);
    }, smallBody(MAX_SETTINGS_BYTES));
}

const MAX_SETTINGS_BYTES = 4096;

const LOG_FORMATS = {
  ndjson: { type: "application/x-ndjson", line: (e: GcLogEntry) => `${JSON.stringify(e)}\n`, header: "" },
  csv: {
    type: "text/csv; charset=utf-8",
    line: (e: GcLogEntry) => csvRecord([e.kind, e.repository ?? "", e.digest, e.tag ?? "", String(e.bytes)]),
    header: "kind,repository,digest,tag,bytes\r\n",
  },
} as const;

/** The run's log as an attachment, streamed page by page (a run may have deleted millions of items). */
async function sendLog(ctx: RequestContext, gc: GcService): Promise<void> {
  const id = Number(ctx.params[0]);
  if (!/^\d{1,9}$/.test(ctx.params[0]) || !Number.isSafeInteger(id)) throw new OciError("INVALID_REQUEST", "run id must be a positive integer");
  const formatName = ctx.query.get("format") ?? "ndjson";
  if (formatName !== "ndjson" && formatName !== "csv") throw new OciError("INVALID_REQUEST", "format: must be ndjson or csv");
  const format = LOG_FORMATS[formatName];
  const pages = await gc.log(id);
  if (!pages) throw new OciError("NOT_FOUND", `no garbage collection run ${id}`);
  await writeAttachment(ctx.res, { type: format.type, filename: `berth-gc-run-${id}.${formatName}`, first: format.header }, lines(pages, format.line));
}

async function* lines(pages: AsyncIterable<GcLogEntry[]>, line: (e: GcLogEntry) => string): AsyncIterable<string> {
  for await (const page of pages) yield page.map(line).join("");
}

