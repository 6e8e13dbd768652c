import type { Handler, RequestContext } from "../../http/context";
import { DomainError } from "../../kernel/errors";
import type { EventSink } from "../../events/event-bus";
import type { QuotaRefusal } from "../../events/vocabulary";
import { actorOf } from "./audit-context";

/**
 * The write `handler` does, with a refusal by its project's quota recorded as an event (the audit log keeps
 * who was refused what, and how full the project was) before the client gets its 403 DENIED.
 */
export function recordingQuotaRefusals(events: EventSink, handler: Handler): Handler {
  return async (ctx: RequestContext) => {
    try {
      await handler(ctx);
    } catch (err) {
      if (err instanceof DomainError && err.code === "QuotaExceeded") {
        events.record({
          ...actorOf(ctx),
          action: "quota.exceeded",
          success: false,
          outcome: "refused",
          repository: ctx.params[0] ?? null,
          reference: ctx.query.get("digest") ?? ctx.query.get("mount") ?? ctx.params[1] ?? null,
          detail: err.detail as QuotaRefusal,
        });
      }
      throw err;
    }
  };
}
