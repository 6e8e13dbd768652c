import type { AuthComponents } from "../auth";
import type { NotificationEndpointConfig } from "../config/ops";
import { NOTIFICATION_ACTIONS } from "../config/ops";
import type { EventBus } from "../events/event-bus";
import { DELIVERY_HISTORY, type ProjectWebhooks } from "../ops/project-webhooks";
import { DomainError } from "../kernel/errors";
import { glob } from "../kernel/patterns";
import type { WebhookRow, WebhookStore } from "../metadata/webhook-store";
import { smallBody } from "../http/body-policy";
import type { RequestContext } from "../http/context";
import { eventOrigin } from "../http/event-origin";
import { readJson } from "../http/json-body";
import { send, sendJson } from "../http/respond";
import type { RouteTable } from "../http/route-table";
import { identifyCaller, requireProjectAdmin, type Caller } from "./admin-gate";
import { displayUrl, MAX_WEBHOOK_BODY_BYTES, MAX_WEBHOOKS_PER_PROJECT, WebhookCreateSchema, WebhookUpdateSchema } from "./webhook-input";

export interface WebhookRouteDeps {
  auth: AuthComponents;
  events: EventBus;
  webhooks: WebhookStore;
  delivery: ProjectWebhooks;
  /** The YAML/env endpoints, shown read-only where they apply to the project. */
  configured: readonly NotificationEndpointConfig[];
}

/**
 * A project's webhook endpoints, under /api/v1/projects/{p}/webhooks: site admins and the project's admins
 * list, create, change, delete and test them (URLs and delivery history are theirs alone: a receiver's URL
 * can be a capability). Every change is one event (webhook.created/updated/deleted); the secret is
 * write-only, never returned nor recorded.
 */
export function registerWebhookRoutes(router: RouteTable, deps: WebhookRouteDeps): void {
  const route =
    (handler: (ctx: RequestContext, caller: Caller, project: string) => Promise<void>) =>
    async (ctx: RequestContext) => {
      const caller = await identifyCaller(deps.auth, ctx.req);
      const project = ctx.params[0];
      await requireProjectAdmin(deps.auth, caller, project);
      await handler(ctx, caller, project);
    };
  const ok = (ctx: RequestContext, value: unknown, status = 200) => sendJson(ctx.res, status, { "Cache-Control": "no-store" }, value);
  const actorOf = (caller: Caller) => caller.name || "anonymous";
  const found = (row: WebhookRow | null, project: string, id: number): WebhookRow => {
    if (!row) throw new DomainError("NotFound", `project ${project} has no webhook ${id}`);
    return row;
  };
  const recordChange = (ctx: RequestContext, caller: Caller, change: "created" | "updated" | "deleted", row: WebhookRow) => {
    deps.delivery.changed(row.project, change === "deleted" ? row.id : undefined);
    deps.events.record({
      ...eventOrigin(ctx.req, caller),
      action: `webhook.${change}`,
      reference: `webhook ${row.id}`,
      detail: { project: row.project, url: displayUrl(row.url), actions: row.actions, enabled: row.enabled, hasSecret: row.secret !== null },
    });
  };
  const webhookId = (ctx: RequestContext) => Number(ctx.params[1]);

  router
    .on("GET", /^\/api\/v1\/projects\/([^/]+)\/webhooks$/, route(async (ctx, _caller, project) => {
      const rows = await deps.webhooks.ofProject(project);
      const endpoints = await Promise.all(rows.map(async (row) => ({ ...shown(row), deliveries: await deps.webhooks.deliveries(row.id, DELIVERY_HISTORY) })));
      ok(ctx, { project, actions: NOTIFICATION_ACTIONS, endpoints, configured: configuredFor(deps.configured, project) });
    }))
    .on("POST", /^\/api\/v1\/projects\/([^/]+)\/webhooks$/, route(async (ctx, caller, project) => {
      const input = await readJson(ctx, WebhookCreateSchema, MAX_WEBHOOK_BODY_BYTES);
      if ((await deps.webhooks.ofProject(project)).length >= MAX_WEBHOOKS_PER_PROJECT) {
        throw new DomainError("InvalidRequest", `project ${project} already has ${MAX_WEBHOOKS_PER_PROJECT} webhooks, the most one project may have`);
      }
      const row = await deps.webhooks.create(project, input, actorOf(caller));
      if (!row) throw new DomainError("NotFound", `project ${project} does not exist`);
      recordChange(ctx, caller, "created", row);
      ok(ctx, shown(row), 201);
    }), WEBHOOK_BODY)
    .on("PUT", /^\/api\/v1\/projects\/([^/]+)\/webhooks\/(\d{1,9})$/, route(async (ctx, caller, project) => {
      const input = await readJson(ctx, WebhookUpdateSchema, MAX_WEBHOOK_BODY_BYTES);
      const row = found(await deps.webhooks.update(project, webhookId(ctx), input, actorOf(caller)), project, webhookId(ctx));
      recordChange(ctx, caller, "updated", row);
      ok(ctx, shown(row));
    }), WEBHOOK_BODY)
    .on("DELETE", /^\/api\/v1\/projects\/([^/]+)\/webhooks\/(\d{1,9})$/, route(async (ctx, caller, project) => {
      recordChange(ctx, caller, "deleted", found(await deps.webhooks.delete(project, webhookId(ctx)), project, webhookId(ctx)));
      send(ctx.res, 204, {});
    }))
    .on("POST", /^\/api\/v1\/projects\/([^/]+)\/webhooks\/(\d{1,9})\/test$/, route(async (ctx, caller, project) => {
      const row = found(await deps.webhooks.get(project, webhookId(ctx)), project, webhookId(ctx));
      ok(ctx, await deps.delivery.test(row, actorOf(caller)));
    }));
}

const WEBHOOK_BODY = smallBody(MAX_WEBHOOK_BODY_BYTES);

/** An endpoint as the API shows it: everything but the secret, of which only whether there is one. */
function shown(row: WebhookRow) {
  const { secret, ...rest } = row;
  return { ...rest, hasSecret: secret !== null };
}

/**
 * The YAML/env endpoints that may deliver events of this project's repositories: those without repository
 * patterns, or with one whose first segment matches the project name. URLs without their query strings.
 */
function configuredFor(configured: readonly NotificationEndpointConfig[], project: string) {
  return configured
    .filter((e) => !e.repositories.length || e.repositories.some((p) => glob(p.split("/")[0]).test(project)))
    .map((e) => ({ name: e.name, url: displayUrl(e.url), actions: e.actions, repositories: e.repositories, hasSecret: e.secret !== undefined, fromConfiguration: true }));
}
