import type { RequestContext } from "../../http/context";
import { callerNamed, eventOrigin } from "../../http/event-origin";

/** Who did it, from where: the fields every event of a /v2 request shares (the grant names the caller). */
export function actorOf(ctx: RequestContext) {
  return eventOrigin(ctx.req, callerNamed(ctx.grant?.subject ?? ""));
}
