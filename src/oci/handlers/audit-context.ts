import type { RequestContext } from "../../http/router";

/** Who did it, from where: the fields every audit event of a request shares. */
export function actorOf(ctx: RequestContext): { actor: string; clientIp: string | null } {
  return { actor: ctx.grant?.subject || "anonymous", clientIp: ctx.req.socket.remoteAddress ?? null };
}
