import { z } from "zod";
import type { AuditLog } from "../audit/audit-log";
import type { AuthComponents } from "../auth";
import type { RegistryServices } from "../oci/routes";
import type { Mirror } from "../proxy";
import type { Handler, RequestContext, Router } from "../http/router";
import { send, sendJson } from "../http/respond";
import { readJson } from "../http/json-body";
import { OciError } from "../http/errors";
import { ROLES } from "../auth/principal";
import { Warmer } from "../proxy/warmer";
import { identifyCaller, isAdminCaller, requireAdmin, requireProjectAdmin, type Caller } from "./admin-gate";

/**
 * The admin JSON API under /api/v1 (it backs the web UI and scripts). Errors use the registry's one error
 * format. Users, robots and the audit log are for administrators; a project's admins manage its members.
 */
export function registerAdminRoutes(router: Router, deps: { auth: AuthComponents; audit: AuditLog; mirror: Mirror | null; services: RegistryServices }): void {
  const { accounts } = deps.auth;
  const api = (handler: (ctx: RequestContext, caller: Caller) => Promise<void>): Handler => async (ctx) =>
    handler(ctx, await identifyCaller(deps.auth, ctx.req));
  const admin = (handler: (ctx: RequestContext, caller: Caller) => Promise<void>) =>
    api(async (ctx, caller) => {
      requireAdmin(caller);
      await handler(ctx, caller);
    });
  const projectAdmin = (handler: (ctx: RequestContext, caller: Caller) => Promise<void>) =>
    api(async (ctx, caller) => {
      await requireProjectAdmin(deps.auth, caller, ctx.params[0]);
      await handler(ctx, caller);
    });
  const ok = (ctx: RequestContext, value: unknown, status = 200) => sendJson(ctx.res, status, { "Cache-Control": "no-store" }, value);

  router
    .on("GET", /^\/api\/v1\/me$/, api(async (ctx, caller) => ok(ctx, { name: caller.name, kind: caller.kind, isAdmin: isAdminCaller(caller) })))
    // The projects the caller holds a role in, so the UI can offer project admins their projects' pages.
    .on("GET", /^\/api\/v1\/me\/projects$/, api(async (ctx, caller) => {
      if (caller.kind === "open") return ok(ctx, (await accounts.listProjects()).map((p) => ({ ...p, role: "admin" })));
      ok(ctx, caller.kind === "user" ? await accounts.projectsOf(caller.name) : []);
    }))
    .on("GET", /^\/api\/v1\/users$/, admin(async (ctx) => ok(ctx, await accounts.listUsers())))
    .on("POST", /^\/api\/v1\/users$/, admin(async (ctx) => {
      const body = await readBody(ctx, NewUser);
      ok(ctx, await accounts.addUser(body.username, body.password, body.isAdmin), 201);
    }))
    .on("PATCH", /^\/api\/v1\/users\/([^/]+)$/, admin(async (ctx) => {
      const changes = await readBody(ctx, UserChanges);
      const user = await accounts.updateUser(ctx.params[0], changes);
      // A new password ends the account's browser sessions (disabled accounts are refused at every request).
      if (changes.password !== undefined) await deps.auth.token?.sessions?.destroyAll(user.username);
      ok(ctx, user);
    }))
    .on("DELETE", /^\/api\/v1\/users\/([^/]+)$/, admin(async (ctx) => {
      await accounts.removeUser(ctx.params[0]);
      send(ctx.res, 204, {});
    }))
    .on("GET", /^\/api\/v1\/robots$/, admin(async (ctx) => ok(ctx, await accounts.listRobots())))
    .on("POST", /^\/api\/v1\/robots$/, admin(async (ctx) => {
      const body = await readBody(ctx, NewRobot);
      ok(ctx, await accounts.addRobot({ ...body, expiresAt: body.expiresAt ? new Date(body.expiresAt) : null }), 201);
    }))
    .on("DELETE", /^\/api\/v1\/robots\/([^/]+)$/, admin(async (ctx) => {
      await accounts.removeRobot(decodeURIComponent(ctx.params[0]));
      send(ctx.res, 204, {});
    }))
    .on("GET", /^\/api\/v1\/projects$/, admin(async (ctx) => ok(ctx, await accounts.listProjects())))
    .on("POST", /^\/api\/v1\/projects$/, admin(async (ctx) => {
      const body = await readBody(ctx, NewProject);
      ok(ctx, await accounts.addProject(body.name, { public: body.public, owner: body.owner }), 201);
    }))
    .on("PATCH", /^\/api\/v1\/projects\/([^/]+)$/, projectAdmin(async (ctx) => ok(ctx, await accounts.updateProject(ctx.params[0], await readBody(ctx, ProjectChanges)))))
    .on("DELETE", /^\/api\/v1\/projects\/([^/]+)$/, admin(async (ctx) => {
      await accounts.removeProject(ctx.params[0]);
      deps.auth.token?.policy.forgetProject(ctx.params[0]);
      send(ctx.res, 204, {});
    }))
    .on("GET", /^\/api\/v1\/projects\/([^/]+)\/members$/, projectAdmin(async (ctx) => ok(ctx, await accounts.members(ctx.params[0]))))
    .on("PUT", /^\/api\/v1\/projects\/([^/]+)\/members\/([^/]+)$/, projectAdmin(async (ctx) => {
      const { role } = await readBody(ctx, Membership);
      await accounts.setMember(ctx.params[0], ctx.params[1], role);
      send(ctx.res, 204, {});
    }))
    .on("DELETE", /^\/api\/v1\/projects\/([^/]+)\/members\/([^/]+)$/, projectAdmin(async (ctx) => {
      await accounts.removeMember(ctx.params[0], ctx.params[1]);
      send(ctx.res, 204, {});
    }))
    .on("GET", /^\/api\/v1\/audit$/, admin(async (ctx) => ok(ctx, await deps.audit.query(parseAuditQuery(ctx.query)))))
    .on("GET", /^\/api\/v1\/mirror$/, admin(async (ctx) => {
      const mirror = deps.mirror;
      if (!mirror) return ok(ctx, { enabled: false });
      ok(ctx, {
        enabled: true,
        upstreams: mirror.upstreams.map((u) => ({
          name: u.config.name,
          url: u.config.url,
          prefix: u.config.prefix,
          health: u.breaker.state,
          rateLimitRemaining: u.rateLimitRemaining,
        })),
        ...mirror.stats.snapshot(),
      });
    }))
    .on("POST", /^\/api\/v1\/mirror\/warm$/, admin(async (ctx) => {
      if (!deps.mirror) throw new OciError("UNSUPPORTED", "mirror mode is off");
      const { image } = await readBody(ctx, z.object({ image: z.string().min(1) }).strict());
      ok(ctx, await new Warmer(deps.services.manifests, deps.services.blobs).warm(image));
    }));
}

const NewUser = z.object({ username: z.string(), password: z.string(), isAdmin: z.boolean().default(false) }).strict();
const UserChanges = z.object({ password: z.string().optional(), isAdmin: z.boolean().optional(), disabled: z.boolean().optional() }).strict();
const NewRobot = z
  .object({
    name: z.string(),
    description: z.string().max(1000).optional(),
    permissions: z.array(z.object({ project: z.string(), actions: z.array(z.enum(["pull", "push", "delete"])) }).strict()),
    expiresAt: z.string().datetime({ offset: true }).optional(),
  })
  .strict();
const NewProject = z.object({ name: z.string(), public: z.boolean().optional(), owner: z.string().optional() }).strict();
const ProjectChanges = z.object({ public: z.boolean().optional() }).strict();
const Membership = z.object({ role: z.enum(ROLES) }).strict();


const readBody = <T>(ctx: RequestContext, schema: z.ZodType<T>) => readJson(ctx, schema, 1024 * 1024);

function parseAuditQuery(query: URLSearchParams) {
  const date = (name: string) => {
    const value = query.get(name);
    if (value === null) return undefined;
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) throw new OciError("INVALID_REQUEST", `${name} must be a date`);
    return d;
  };
  const limit = Number(query.get("limit") ?? 100);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new OciError("INVALID_REQUEST", "limit must be 1..1000");
  const before = query.get("before") ?? undefined;
  if (before !== undefined && !/^\d{1,19}$/.test(before)) throw new OciError("INVALID_REQUEST", "before must be an event id");
  return {
    actor: query.get("actor") ?? undefined,
    action: query.get("action") ?? undefined,
    repository: query.get("repository") ?? undefined,
    since: date("since"),
    until: date("until"),
    before,
    limit,
  };
}
