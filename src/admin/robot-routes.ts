import { z } from "zod";
import type { AuthComponents } from "../auth";
import type { RobotScope } from "../auth/account-service";
import type { EventBus, EventInput } from "../events/event-bus";
import type { UnattributedEvent } from "../events/vocabulary";
import type { Handler, RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { send, sendJson } from "../http/respond";
import { readJson } from "../http/json-body";
import { smallBody } from "../http/body-policy";
import { eventOrigin } from "../http/event-origin";
import { OciError } from "../http/errors";
import { robotChangeEvent, robotCreatedEvent, robotEvent } from "../events/admin-events";
import { identifyCaller, requireAdmin, requireProjectAdmin, type Caller } from "./admin-gate";

/**
 * Robot accounts and their lifecycle (create, edit rights/expiry/description, disable/enable, refresh the
 * secret, delete). System robots, with rights on any projects, are the site admins' under /api/v1/robots
 * (which also reaches every project robot); a project's admins manage its own robots under
 * /api/v1/projects/{p}/robots, where a robot of another project or a system robot does not exist for them.
 * A new secret is in the response once; only its hash is kept. Every change is one event.
 */
export function registerRobotRoutes(router: RouteTable, deps: { auth: AuthComponents; events: EventBus }): void {
  const { accounts } = deps.auth;
  const ok = (ctx: RequestContext, value: unknown, status = 200) => sendJson(ctx.res, status, { "Cache-Control": "no-store" }, value);

  /** Routes for one kind of scope: the site's (admins) or a project's (its admins), from the path. */
  const family = (base: string, gate: (ctx: RequestContext, caller: Caller) => Promise<RobotScope>) => {
    const route = (handler: (ctx: RequestContext, caller: Caller, scope: RobotScope, name: () => string) => Promise<void>): Handler => async (ctx) => {
      const caller = await identifyCaller(deps.auth, ctx.req);
      const scope = await gate(ctx, caller);
      // The robot's name is the capture after the project's, if any.
      await handler(ctx, caller, scope, () => robotNameParam(ctx.params[scope === "all" ? 0 : 1]));
    };
    const record = (ctx: RequestContext, caller: Caller, event: UnattributedEvent) => deps.events.record({ ...eventOrigin(ctx.req, caller), ...event } as EventInput);
    const one = new RegExp(`^${base}\\/([^/]+)$`);
    router
      .on("GET", new RegExp(`^${base}$`), route(async (ctx, _caller, scope) => ok(ctx, await accounts.listRobots(scope))))
      .on("POST", new RegExp(`^${base}$`), route(async (ctx, caller, scope) => {
        const body = await readJson(ctx, NewRobot, MAX_BYTES);
        const created = await accounts.addRobot({ ...body, expiresAt: body.expiresAt ? new Date(body.expiresAt) : null, ...(scope === "all" ? {} : { project: scope.project }) });
        record(ctx, caller, robotCreatedEvent(created.robot));
        ok(ctx, created, 201);
      }), BODY)
      .on("PATCH", one, route(async (ctx, caller, scope, name) => {
        const body = await readJson(ctx, RobotChanges, MAX_BYTES);
        const { expiresAt, ...rest } = body;
        const edit = { ...rest, ...(expiresAt !== undefined ? { expiresAt: expiresAt === null ? null : new Date(expiresAt) } : {}) };
        const robot = await accounts.updateRobot(scope, name(), edit);
        record(ctx, caller, robotChangeEvent(robot, body));
        ok(ctx, robot);
      }), BODY)
      .on("POST", new RegExp(`^${base}\\/([^/]+)\\/secret$`), route(async (ctx, caller, scope, name) => {
        const refreshed = await accounts.refreshRobotSecret(scope, name());
        record(ctx, caller, robotEvent("robot.secret_refreshed", refreshed.robot));
        ok(ctx, refreshed);
      }))
      .on("DELETE", one, route(async (ctx, caller, scope, name) => {
        record(ctx, caller, robotEvent("robot.deleted", await accounts.removeRobot(name(), scope)));
        send(ctx.res, 204, {});
      }));
  };

  family("\\/api\\/v1\\/robots", async (_ctx, caller) => {
    requireAdmin(caller);
    return "all";
  });
  family("\\/api\\/v1\\/projects\\/([^/]+)\\/robots", async (ctx, caller) => {
    await requireProjectAdmin(deps.auth, caller, ctx.params[0]);
    return { project: ctx.params[0] };
  });
}

const Permissions = z.array(z.object({ project: z.string().max(256), actions: z.array(z.enum(["pull", "push", "delete"])).max(3) }).strict()).max(1000);
const NewRobot = z
  .object({
    name: z.string().max(300),
    description: z.string().max(1000).optional(),
    permissions: Permissions,
    expiresAt: z.string().datetime({ offset: true }).optional(),
  })
  .strict();
/** A null expiry: the robot never expires. */
const RobotChanges = z
  .object({
    description: z.string().max(1000).optional(),
    permissions: Permissions.optional(),
    expiresAt: z.string().datetime({ offset: true }).nullable().optional(),
    disabled: z.boolean().optional(),
  })
  .strict()
  .refine((c) => Object.values(c).some((v) => v !== undefined), "nothing to change: give description, permissions, expiresAt and/or disabled");

const MAX_BYTES = 256 * 1024;
const BODY = smallBody(MAX_BYTES);

/** Clients may escape the `$` and `+` of robot$project+name; a malformed escape names no robot. */
function robotNameParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new OciError("INVALID_REQUEST", `malformed escape in robot name: ${raw.slice(0, 100)}`);
  }
}
