import type { RequestContext } from "../../http/context";
import { clientInfo } from "../../http/client-info";
import type { RequestSummary } from "../../events/event-bus";

/** Who did it, from where: the fields every audit event of a request shares. */
export function actorOf(ctx: RequestContext): { actor: string; clientIp: string | null; request: RequestSummary } {
  const info = clientInfo(ctx.req);
  return {
    actor: ctx.grant?.subject || "anonymous",
    clientIp: info.ip || null,
    request: {
      id: info.requestId,
      addr: info.ip,
      host: info.host,
      method: ctx.req.method ?? "",
      useragent: String(ctx.req.headers["user-agent"] ?? ""),
      origin: info.origin,
    },
  };
}
