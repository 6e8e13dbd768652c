import { z } from "zod";
import { byteSize } from "../config/gc";
import type { AuthComponents } from "../auth";
import type { EventBus } from "../events/event-bus";
import type { RegistryServices } from "../oci/routes";
import type { Mirror } from "../proxy";
import type { Handler, RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { send, sendJson } from "../http/respond";
import { readJson } from "../http/json-body";
import { smallBody } from "../http/body-policy";
import { eventOrigin } from "../http/event-origin";
import { mirrorWarmedEvent, userChangeEvent } from "../events/admin-events";
import { OciError } from "../http/errors";
import { ROLES } from "../auth/principal";
import { Warmer } from "../proxy/warmer";
import { identifyCaller, isAdminCaller, requireAdmin, requireProjectAdmin, type Caller } from "./admin-gate";

/**
 * The admin JSON API under /api/v1 (it backs the web UI and scripts). Errors use the registry's one error
 * format. Users are for administrators (robots: robot-routes.ts; the audit log: audit-routes.ts); a
 * project's admins manage its members.
 * Every change is recorded as an event (src/events/vocabulary.ts) with the caller and client address.
 */
export function registerAdminRoutes(router: RouteTable, deps: { auth: AuthComponents; events: EventBus; mirror: Mirror | null; services: RegistryServices }): void {
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
  const origin = (ctx: RequestContext, caller: Caller) => eventOrigin(ctx.req, caller);

  router
    .on("GET", /^\/api\/v1\/me$/, api(async (ctx, caller) => ok(ctx, { name: caller.name, kind: caller.kind, isAdmin: isAdminCaller(caller) })))
    // The projects the caller holds a role in, so the UI can offer project admins their projects' pages.
    .on("GET", /^\/api\/v1\/me\/projects$/, api(async (ctx, caller) => {
      if (caller.kind === "open") return ok(ctx, (await accounts.listProjects()).map((p) => ({ ...p, role: "admin" })));
      ok(ctx, caller.kind === "user" ? await accounts.projectsOf(caller.name) : []);
    }))
    .on("GET", /^\/api\/v1\/users$/, admin(async (ctx) => ok(ctx, await accounts.listUsers())))
    .on("POST", /^\/api\/v1\/users$/, admin(async (ctx, caller) => {
      const body = await readBody(ctx, NewUser);
      const user = await accounts.addUser(body.username, body.password, body.isAdmin);
      deps.events.record({ ...origin(ctx, caller), action: "user.created", reference: `user ${user.username}`, detail: { isAdmin: user.isAdmin } });
      ok(ctx, user, 201);
    }), JSON_BODY)
    .on("PATCH", /^\/api\/v1\/users\/([^/]+)$/, admin(async (ctx, caller) => {
      const changes = await readBody(ctx, UserChanges);
      // A new password, disabling or demotion ends the account's tokens and sessions: the database moves its
      // credential generation on (migration 20261205140000_credential_generation).
      const user = await accounts.updateUser(ctx.params[0], changes);
      deps.events.record({ ...origin(ctx, caller), ...userChangeEvent(user.username, changes) });
      ok(ctx, user);
    }), JSON_BODY)
    .on("DELETE", /^\/api\/v1\/users\/([^/]+)$/, admin(async (ctx, caller) => {
      await accounts.removeUser(ctx.params[0]);
      deps.events.record({ ...origin(ctx, caller), action: "user.deleted", reference: `user ${ctx.params[0]}`, detail: {} });
      send(ctx.res, 204, {});
    }))
    .on("GET", /^\/api\/v1\/projects$/, admin(async (ctx) => ok(ctx, await accounts.listProjects())))
    .on("POST", /^\/api\/v1\/projects$/, admin(async (ctx, caller) => {
      const body = await readBody(ctx, NewProject);
      const project = await accounts.addProject(body.name, { public: body.public, owner: body.owner });
      deps.events.record({ ...origin(ctx, caller), action: "project.created", reference: `project ${project.name}`, detail: { public: project.public, owner: body.owner ?? null } });
      ok(ctx, project, 201);
    }), JSON_BODY)
    .on("PATCH", /^\/api\/v1\/projects\/([^/]+)$/, projectAdmin(async (ctx, caller) => {
      const { quota, ...changes } = await readBody(ctx, ProjectChanges);
      // A project's admins manage its members and visibility; its storage is the site's to give.
      if (quota !== undefined) requireAdmin(caller);
      let project = await accounts.updateProject(ctx.params[0], changes);
      if (changes.public !== undefined) {
        deps.events.record({ ...origin(ctx, caller), action: "project.visibility_changed", reference: `project ${project.name}`, detail: { public: project.public } });
      }
      if (quota !== undefined) {
        project = await accounts.setProjectQuota(project.name, quota);
        deps.events.record({ ...origin(ctx, caller), action: "project.quota_changed", reference: `project ${project.name}`, detail: { quotaBytes: quota } });
      }
      ok(ctx, project);
    }), JSON_BODY)
    .on("DELETE", /^\/api\/v1\/projects\/([^/]+)$/, admin(async (ctx, caller) => {
      const { repositories } = await accounts.removeProject(ctx.params[0], { force: forceFlag(ctx.query.get("force")) });
      deps.auth.token?.policy.forgetProject(ctx.params[0]);
      deps.events.record({ ...origin(ctx, caller), action: "project.deleted", reference: `project ${ctx.params[0]}`, detail: { repositories } });
      send(ctx.res, 204, {});
    }))
    .on("GET", /^\/api\/v1\/projects\/([^/]+)\/members$/, projectAdmin(async (ctx) => ok(ctx, await accounts.members(ctx.params[0]))))
    .on("PUT", /^\/api\/v1\/projects\/([^/]+)\/members\/([^/]+)$/, projectAdmin(async (ctx, caller) => {
      const { role } = await readBody(ctx, Membership);
      const [project, username] = ctx.params;
      await accounts.setMember(project, username, role);
      deps.events.record({ ...origin(ctx, caller), action: "member.set", reference: `user ${username}`, detail: { project, role } });
      send(ctx.res, 204, {});
    }), JSON_BODY)
    .on("DELETE", /^\/api\/v1\/projects\/([^/]+)\/members\/([^/]+)$/, projectAdmin(async (ctx, caller) => {
      const [project, username] = ctx.params;
      await accounts.removeMember(project, username);
      deps.events.record({ ...origin(ctx, caller), action: "member.removed", reference: `user ${username}`, detail: { project } });
      send(ctx.res, 204, {});
    }))
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
    .on("POST", /^\/api\/v1\/mirror\/warm$/, admin(async (ctx, caller) => {
      if (!deps.mirror) throw new OciError("UNSUPPORTED", "mirror mode is off");
      const { image } = await readBody(ctx, z.object({ image: z.string().min(1) }).strict());
      const warmed = await new Warmer(deps.services.manifests, deps.services.blobs).warm(image);
      deps.events.record({ ...origin(ctx, caller), ...mirrorWarmedEvent(warmed) });
      ok(ctx, warmed);
    }), JSON_BODY);
}

const NewUser = z.object({ username: z.string(), password: z.string(), isAdmin: z.boolean().default(false) }).strict();
const UserChanges = z.object({ password: z.string().optional(), isAdmin: z.boolean().optional(), disabled: z.boolean().optional() }).strict();
const NewProject = z.object({ name: z.string(), public: z.boolean().optional(), owner: z.string().optional() }).strict();
/** A storage quota: bytes, a size such as "10GiB" or "500MB", or null for unlimited. */
const Quota = byteSize.pipe(z.number().max(Number.MAX_SAFE_INTEGER, "at most 8 PiB")).nullable();
const ProjectChanges = z.object({ public: z.boolean().optional(), quota: Quota.optional() }).strict();
const Membership = z.object({ role: z.enum(ROLES) }).strict();


const MAX_JSON_BYTES = 1024 * 1024;
const JSON_BODY = smallBody(MAX_JSON_BYTES);
const readBody = <T>(ctx: RequestContext, schema: z.ZodType<T>) => readJson(ctx, schema, MAX_JSON_BYTES);

/** `?force=true` (or `false`, or absent); anything else is refused rather than read as "no". */
function forceFlag(value: string | null): boolean {
  if (value === null || value === "false") return false;
  if (value === "true") return true;
  throw new OciError("INVALID_REQUEST", "force must be true or false");
}
