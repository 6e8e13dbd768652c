import type { ErrorRequestHandler, Request } from "express";
import type { EventSink } from "../events/event-bus";
import { parseBasic, parseBearer } from "../auth/authenticator";
import { claimedSubject, type TokenService } from "../auth/tokens";
import { DomainError } from "../kernel/errors";
import { callerNamed, eventOrigin, notedCaller, type CallerLike } from "./event-origin";
import { toOciError } from "./errors";

/**
 * Records refused requests (401/403 on /v2 and the API) as "access.denied" events, then passes the error
 * on to the error renderer. Where the line is drawn, and why (as Harbor, an audit trail of decisions about
 * someone, not of every challenge a client is sent):
 * - 403, always: an identified caller (or anyone on an open registry) was refused by a decision — no
 *   right, an immutable tag, administrators only, a wrong CSRF token, a robot signing in to the UI. Except
 *   an anonymous caller's read (a browser peeking at a private page), and quota refusals, which their
 *   handler records with the quota's figures ("quota.exceeded").
 * - 401 only for a Bearer token we signed that is refused (expired, its account disabled or changed):
 *   someone holds a credential that no longer works. Not the challenge a client gets before it
 *   authenticates (docker sends one before every authenticated operation), not a token that merely lacks
 *   a scope the client will fetch next (insufficient_scope), and not a wrong password, which the
 *   authenticator records already as a refused "login".
 */
export function refusalAudit(events: EventSink, tokens?: Pick<TokenService, "signedHere">): ErrorRequestHandler {
  return (err, req, _res, next) => {
    try {
      const refusal = refusalOf(err, req);
      if (refusal?.detail.status === 401) {
        // Only a token we signed (expired, or its account changed) is someone's credential; a forged
        // string is not worth a row — recording those would let any client grow the audit log for free.
        // Checked off the response's path: the answer does not wait for the event.
        const bearer = parseBearer(req.headers.authorization);
        if (bearer && tokens) void tokens.signedHere(bearer).then((ours) => ours && events.record(refusal));
      } else if (refusal) events.record(refusal);
    } finally {
      next(err);
    }
  };
}

function refusalOf(err: unknown, req: Request) {
  if (err instanceof DomainError && err.code === "QuotaExceeded") return null;
  const error = toOciError(err);
  if (error.status !== 401 && error.status !== 403) return null;
  const bearer = parseBearer(req.headers.authorization);
  let caller: CallerLike;
  let claimed: string | undefined;
  if (error.status === 401) {
    if (!bearer || /error="insufficient_scope"/.test(error.headers["WWW-Authenticate"] ?? "")) return null;
    caller = callerNamed("");
    claimed = claimedSubject(bearer) ?? undefined;
  } else {
    caller = notedCaller(req) ?? credentialsOf(req, bearer);
    if (caller.kind === "anonymous" && (req.method === "GET" || req.method === "HEAD")) return null;
  }
  const target = targetOf(req.path);
  return {
    ...eventOrigin(req, caller),
    action: "access.denied" as const,
    outcome: "refused" as const,
    success: false,
    repository: target.repository,
    project: target.project,
    reference: target.reference,
    detail: {
      status: error.status,
      code: error.code,
      message: (typeof error.detail === "string" ? error.detail : error.toBody().errors[0].message).slice(0, 500),
      method: req.method,
      route: String(req.res?.locals.route ?? req.path.slice(0, 200)),
      ...(claimed !== undefined ? { claimedSubject: claimed } : {}),
    },
  };
}

/**
 * Who a refused request came as, when no handler noted it: past authentication (a 403), Basic credentials
 * and a Bearer token have been verified, so their names are the caller's.
 */
function credentialsOf(req: Request, bearer: string | null): CallerLike {
  if (bearer) return callerNamed(claimedSubject(bearer) ?? "");
  return callerNamed(parseBasic(req.headers.authorization)?.username ?? "");
}

const TARGETS: Array<{ pattern: RegExp; kind: "repository" | "project" }> = [
  { pattern: /^\/v2\/(.+)\/(?:blobs|manifests|tags|referrers)\/(?:uploads\/)?([^/]*)/, kind: "repository" },
  { pattern: /^\/api\/v1\/repositories\/(.+?)\/-\/(?:tags|manifests|export)\/([^/]+)/, kind: "repository" },
  { pattern: /^\/api\/v1\/repositories\/(.+?)(?:\/-\/|$)/, kind: "repository" },
  { pattern: /^\/api\/v1\/projects\/([^/]+)/, kind: "project" },
];

/** The repository (and reference) or project a refused request's path names, as far as a path says. */
function targetOf(path: string): { repository: string | null; project: string | null; reference: string | null } {
  for (const { pattern, kind } of TARGETS) {
    const m = pattern.exec(path);
    if (!m) continue;
    const name = m[1].slice(0, 512);
    return kind === "repository"
      ? { repository: name, project: null, reference: m[2] ? m[2].slice(0, 512) : null }
      : { repository: null, project: name, reference: `project ${name}` };
  }
  return { repository: null, project: null, reference: null };
}
