import type { IncomingMessage } from "node:http";
import { ROBOT_PREFIX } from "../auth/principal";
import type { Actor, RequestSummary } from "../events/event-bus";
import { clientInfo } from "./client-info";

/** A caller as the HTTP layers know it: a Principal, or the open registry's nameless caller (auth off). */
export interface CallerLike {
  kind: string;
  name: string;
}

const identified = new WeakMap<IncomingMessage, CallerLike>();

/**
 * Remembers who a request turned out to be, as soon as it is known, so a refusal later in the request (403)
 * is recorded under the caller's name (src/http/refusal-audit.ts).
 */
export function noteCaller<C extends CallerLike>(req: IncomingMessage, caller: C): C {
  identified.set(req, caller);
  return caller;
}

export function notedCaller(req: IncomingMessage): CallerLike | undefined {
  return identified.get(req);
}

/** The principal behind a token's subject ("" is anonymous). */
export function callerNamed(subject: string): CallerLike {
  if (!subject) return { kind: "anonymous", name: "" };
  return { kind: subject.startsWith(ROBOT_PREFIX) ? "robot" : "user", name: subject };
}

/**
 * Who acted and the request they acted in, as every event recorded on the HTTP side carries them: the
 * client address is the one resolved through trusted proxies. Nameless callers (anonymous, or anyone when
 * auth is off) are "anonymous".
 */
export function eventOrigin(req: IncomingMessage, caller: CallerLike): { actor: Actor; request: RequestSummary } {
  const info = clientInfo(req);
  const kind = caller.kind === "user" || caller.kind === "robot" ? caller.kind : "anonymous";
  return {
    actor: { kind, name: kind === "anonymous" ? "anonymous" : caller.name, address: info.ip },
    request: {
      id: info.requestId,
      addr: info.ip,
      host: info.host,
      method: req.method ?? "",
      useragent: String(req.headers["user-agent"] ?? ""),
      origin: info.origin,
    },
  };
}
