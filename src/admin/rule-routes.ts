import type { AuthComponents } from "../auth";
import type { EventBus } from "../events/event-bus";
import type { GcService } from "../gc/gc-service";
import type { Handler, RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { send, sendJson } from "../http/respond";
import { readJson } from "../http/json-body";
import { smallBody } from "../http/body-policy";
import { eventOrigin } from "../http/event-origin";
import { RuleInputSchema } from "../config/gc";
import type { StoredRule } from "../gc/project-rule-store";
import { projectOf } from "../gc/rules";
import { parseRepositoryName } from "../kernel/names";
import { identifyCaller, isProjectAdmin, requireProjectAdmin, requireProjectViewer, type Caller } from "./admin-gate";

/**
 * The retention and immutability rules of a project (src/gc/project-rules.ts), under /api/v1/projects/{p}/rules:
 * whoever may pull from the project sees them and the retention preview; site admins and the project's
 * admins change them, and every change is recorded as an event (the audit log keeps them).
 */
export function registerRuleRoutes(router: RouteTable, deps: { auth: AuthComponents; events: EventBus; gc: GcService }): void {
  const rules = deps.gc.projectRules;
  const route = (
    check: typeof requireProjectViewer,
    handler: (ctx: RequestContext, caller: Caller, project: string) => Promise<void>,
    projectParam: (ctx: RequestContext) => string = (ctx) => ctx.params[0],
  ): Handler =>
    async (ctx) => {
      const caller = await identifyCaller(deps.auth, ctx.req);
      const project = projectParam(ctx);
      await check(deps.auth, caller, project);
      await handler(ctx, caller, project);
    };
  const ok = (ctx: RequestContext, value: unknown, status = 200) => sendJson(ctx.res, status, { "Cache-Control": "no-store" }, value);
  // With auth off the caller has no name.
  const actorOf = (caller: Caller) => caller.name || "anonymous";
  const recordChange = (ctx: RequestContext, caller: Caller, change: "created" | "updated" | "deleted", rule: StoredRule) =>
    deps.events.record({
      ...eventOrigin(ctx.req, caller),
      action: `rule.${change}`,
      reference: `rule ${rule.id}`,
      detail: { change: `${rule.kind} rule ${change}`, project: rule.project, kind: rule.kind, spec: rule.spec },
    });
  const ruleId = (ctx: RequestContext) => Number(ctx.params[1]);

  const view = async (ctx: RequestContext, caller: Caller, project: string) =>
    ok(ctx, { ...(await rules.view(project)), canEdit: await isProjectAdmin(deps.auth, caller, project) });

  router
    .on("GET", /^\/api\/v1\/projects\/([^/]+)\/rules$/, route(requireProjectViewer, view))
    // The rules that apply to a repository are its project's (the repository page shows them).
    .on("GET", /^\/api\/v1\/repositories\/(.+)\/-\/rules$/, route(requireProjectViewer, view, (ctx) => projectOf(parseRepositoryName(ctx.params[0]))))
    .on("POST", /^\/api\/v1\/projects\/([^/]+)\/rules$/, route(requireProjectAdmin, async (ctx, caller, project) => {
      const rule = await rules.create(project, await readJson(ctx, RuleInputSchema, MAX_RULE_BYTES), actorOf(caller));
      recordChange(ctx, caller, "created", rule);
      ok(ctx, rule, 201);
    }), RULE_BODY)
    .on("GET", /^\/api\/v1\/projects\/([^/]+)\/rules\/preview$/, route(requireProjectViewer, async (ctx, _caller, project) => {
      ok(ctx, { project, deletions: await rules.preview(project) });
    }))
    .on("PUT", /^\/api\/v1\/projects\/([^/]+)\/rules\/(\d{1,9})$/, route(requireProjectAdmin, async (ctx, caller, project) => {
      const rule = await rules.update(project, ruleId(ctx), await readJson(ctx, RuleInputSchema, MAX_RULE_BYTES), actorOf(caller));
      recordChange(ctx, caller, "updated", rule);
      ok(ctx, rule);
    }), RULE_BODY)
    .on("DELETE", /^\/api\/v1\/projects\/([^/]+)\/rules\/(\d{1,9})$/, route(requireProjectAdmin, async (ctx, caller, project) => {
      recordChange(ctx, caller, "deleted", await rules.remove(project, ruleId(ctx)));
      send(ctx.res, 204, {});
    }));
}

const MAX_RULE_BYTES = 64 * 1024;
const RULE_BODY = smallBody(MAX_RULE_BYTES);
