import type { AuthComponents } from "../auth";
import { AccessSettingsInputSchema, type AccessSettings } from "../auth/auth-settings";
import type { Config } from "../config";
import { effectiveConfig } from "../config/effective";
import type { EventSink } from "../events/event-bus";
import type { GcSettings } from "../gc/gc-settings";
import type { Handler, RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { sendJson } from "../http/respond";
import { readJson } from "../http/json-body";
import { smallBody } from "../http/body-policy";
import { eventOrigin } from "../http/event-origin";
import { identifyCaller, requireAdmin } from "./admin-gate";

export interface SettingsRouteDeps {
  auth: AuthComponents;
  config: Config;
  access: AccessSettings;
  /** The GC's own settings (changed through /api/v1/gc/settings): shown in force in the effective configuration. */
  gcSettings: GcSettings;
  events: EventSink;
}

const MAX_SETTINGS_BYTES = 4096;

/**
 * The Settings page's API, for administrators: GET and PUT /api/v1/settings (project creation, default
 * visibility, token lifetime; null sets a field back to its configured value), and GET
 * /api/v1/settings/effective-config (every configuration key with its source, secrets masked). Each change
 * is one "setting.changed" event.
 */
export function registerSettingsRoutes(router: RouteTable, deps: SettingsRouteDeps): void {
  const admin = (handler: (ctx: RequestContext, origin: ReturnType<typeof eventOrigin>) => Promise<unknown>): Handler => async (ctx) => {
    const caller = await identifyCaller(deps.auth, ctx.req);
    requireAdmin(caller);
    const value = await handler(ctx, eventOrigin(ctx.req, caller));
    sendJson(ctx.res, 200, { "Cache-Control": "no-store" }, value);
  };
  router
    .on("GET", /^\/api\/v1\/settings$/, admin(async () => deps.access.view()))
    .on("PUT", /^\/api\/v1\/settings$/, admin(async (ctx, origin) => {
      const input = await readJson(ctx, AccessSettingsInputSchema, MAX_SETTINGS_BYTES);
      for (const change of await deps.access.update(input, origin.actor.name)) {
        deps.events.record({ ...origin, action: "setting.changed", reference: `setting ${change.key}`, detail: change });
      }
      return deps.access.view();
    }), smallBody(MAX_SETTINGS_BYTES))
    .on("GET", /^\/api\/v1\/settings\/effective-config$/, admin(async () => {
      const ui = new Map([...deps.access.overrides(), ...deps.gcSettings.overrides()]);
      return { entries: effectiveConfig(deps.config, ui) };
    }));
}
