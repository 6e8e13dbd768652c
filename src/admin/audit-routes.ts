import type { AuditEvent, AuditLog, AuditQuery } from "../audit/audit-log";
import type { AuthComponents } from "../auth";
import { actionsInCategory, OUTCOMES, type Outcome } from "../events/vocabulary";
import type { RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { sendJson } from "../http/respond";
import { OciError } from "../http/errors";
import { csvRecord, writeAttachment } from "../http/attachment";
import { identifyCaller, requireAdmin, requireProjectAdmin } from "./admin-gate";

/**
 * The audit log over the API: GET /api/v1/audit (administrators, every event) and
 * GET /api/v1/projects/{p}/audit (that project's admins, the project's events only — the filter is the
 * path's, whatever the query says). Filters: project, repository, actor, action (or the "admin" category),
 * outcome, from/to (since/until are older names), paging by `before` (the last id of the previous page)
 * and `limit`; `format=csv` streams every matching event as a CSV attachment instead of one page of JSON.
 */
export function registerAuditRoutes(router: RouteTable, deps: { auth: AuthComponents; audit: AuditLog }): void {
  router
    .on("GET", /^\/api\/v1\/audit$/, async (ctx) => {
      requireAdmin(await identifyCaller(deps.auth, ctx.req));
      await answer(ctx, deps.audit, parseAuditQuery(ctx.query), "berth-audit.csv");
    })
    .on("GET", /^\/api\/v1\/projects\/([^/]+)\/audit$/, async (ctx) => {
      const project = ctx.params[0];
      await requireProjectAdmin(deps.auth, await identifyCaller(deps.auth, ctx.req), project);
      await answer(ctx, deps.audit, { ...parseAuditQuery(ctx.query), project }, `berth-audit-${project.replace(/[^A-Za-z0-9._-]/g, "_")}.csv`);
    });
}

async function answer(ctx: RequestContext, audit: AuditLog, query: AuditQuery, filename: string): Promise<void> {
  const format = ctx.query.get("format") ?? "json";
  if (format === "json") return sendJson(ctx.res, 200, { "Cache-Control": "no-store" }, await audit.query(query));
  if (format !== "csv") throw new OciError("INVALID_REQUEST", "format: must be json or csv");
  // Pages of 1000 whatever one JSON page would hold: the export is every matching event.
  const rows = csvRows(audit.pages({ ...query, limit: 1000 }));
  await writeAttachment(ctx.res, { type: "text/csv; charset=utf-8", filename, first: csvRecord([...CSV_COLUMNS]) }, rows);
}

const CSV_COLUMNS = ["id", "time", "actor", "client_address", "action", "outcome", "project", "repository", "reference", "detail"] as const;

async function* csvRows(pages: AsyncIterable<AuditEvent[]>): AsyncIterable<string> {
  for await (const page of pages) {
    yield page
      .map((e) =>
        csvRecord([e.id, e.at.toISOString(), e.actor, e.clientIp ?? "", e.action, e.outcome, e.project ?? "", e.repository ?? "", e.reference ?? "", e.detail ? JSON.stringify(e.detail) : ""]),
      )
      .join("");
  }
}

/** The query string, validated once: a bad value is 400 naming its parameter. */
export function parseAuditQuery(query: URLSearchParams): AuditQuery {
  const text = (name: string) => {
    const value = query.get(name);
    if (value === null || value === "") return undefined;
    if (value.length > 512) throw new OciError("INVALID_REQUEST", `${name}: at most 512 characters`);
    return value;
  };
  const date = (name: string, older: string) => {
    const value = text(name) ?? text(older);
    if (value === undefined) return undefined;
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) throw new OciError("INVALID_REQUEST", `${query.has(name) ? name : older}: must be a date and time (ISO 8601)`);
    return d;
  };
  const limit = Number(query.get("limit") ?? 100);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new OciError("INVALID_REQUEST", "limit: must be 1..1000");
  const before = text("before");
  if (before !== undefined && !/^\d{1,19}$/.test(before)) throw new OciError("INVALID_REQUEST", "before: must be an event id");
  const outcome = text("outcome");
  if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome)) throw new OciError("INVALID_REQUEST", `outcome: must be one of ${OUTCOMES.join(", ")}`);
  const from = date("from", "since");
  const to = date("to", "until");
  if (from && to && from > to) throw new OciError("INVALID_REQUEST", "from: must not be after to");
  const action = text("action");
  // A category ("admin") stands for its actions, and for itself: rows written before the vocabulary say "admin".
  const category = action === undefined ? null : actionsInCategory(action);
  return {
    actor: text("actor"),
    action: category ? [action!, ...category] : action,
    repository: text("repository"),
    project: text("project"),
    outcome: outcome as Outcome | undefined,
    since: from,
    until: to,
    before,
    limit,
  };
}
