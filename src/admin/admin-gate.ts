import type { IncomingMessage } from "node:http";
import type { AuthComponents } from "../auth";
import { parseBasic, parseBearer } from "../auth/authenticator";
import { ANONYMOUS, type Principal } from "../auth/principal";
import { InvalidTokenError } from "../auth/tokens";
import { ADMIN_API, coversAll, formatScope } from "../auth/scope";
import { OciError } from "../http/errors";
import { clientIp } from "../http/client-info";
import { noteCaller } from "../http/event-origin";
import { CSRF_HEADER, csrfMatches, isUnsafeMethod, requestSession } from "../http/session-cookie";

/** Who calls the admin API. With auth off everyone is treated as an admin (a local, open registry). */
export type Caller = Principal | { kind: "open"; name: "" };

export function isAdminCaller(caller: Caller): boolean {
  return caller.kind === "open" || (caller.kind === "user" && caller.isAdmin);
}

/**
 * Identifies the caller from Basic credentials, the web UI's session cookie (then unsafe methods must echo
 * the session's CSRF token in X-Berth-CSRF), or a Bearer token from /token that grants `api:admin:*`
 * (a registry token, made for /v2, is refused here whatever it grants there). Without credentials: 401, or
 * the anonymous principal where `allowAnonymous` (read-only views of public projects).
 */
export interface CallerOptions {
  allowAnonymous?: boolean;
  /**
   * Take any valid token as proof of who calls, whatever it grants: for `docker search` (/v1/search), whose
   * daemon sends the token its /v2 login got. Only for read-only views filtered by the account's own rights.
   */
  anyToken?: boolean;
}

export async function identifyCaller(auth: AuthComponents, req: IncomingMessage, options: CallerOptions = {}): Promise<Caller> {
  if (!auth.token) return { kind: "open", name: "" };
  const { tokens, authenticator } = auth.token;
  const bearer = parseBearer(req.headers.authorization);
  if (bearer) {
    let verified;
    try {
      verified = await tokens.verifyAccess(bearer);
    } catch (err) {
      if (err instanceof InvalidTokenError) throw new OciError("UNAUTHORIZED", `invalid token: ${err.message}`);
      throw err;
    }
    if (!options.anyToken && !coversAll(verified.access, [ADMIN_API])) throw new OciError("UNAUTHORIZED", `this token is not for the API: ask /token for scope ${formatScope(ADMIN_API)}`);
    const account = verified.account;
    // The database, not the token checks' cache: a demotion or password change applies to the next call.
    const principal = account ? await authenticator.byAccount(account, account.generation) : null;
    if (!principal) throw new OciError("UNAUTHORIZED", "the token's account was deleted or disabled, or its credentials changed");
    return noteCaller(req, principal);
  }
  const basic = parseBasic(req.headers.authorization);
  if (basic) return noteCaller(req, await authenticator.login(basic.username, basic.password, clientIp(req)));
  const session = await requestSession(req, auth.token.sessions);
  if (session) {
    noteCaller(req, session.principal);
    if (isUnsafeMethod(req.method) && !csrfMatches(req, session.csrfToken)) {
      throw new OciError("DENIED", "missing or wrong CSRF token (X-Berth-CSRF header)");
    }
    return session.principal;
  }
  if (options.allowAnonymous) return noteCaller(req, ANONYMOUS);
  // The web UI marks its requests: a Basic challenge would make the browser pop up its own login dialog.
  const fromUi = req.headers[CSRF_HEADER] !== undefined;
  throw new OciError("UNAUTHORIZED", "authentication required", fromUi ? {} : { headers: { "WWW-Authenticate": 'Basic realm="berth"' } });
}

export function requireAdmin(caller: Caller): void {
  if (!isAdminCaller(caller)) throw new OciError("DENIED", "administrators only");
}

/** Site admins, and users holding the admin role in the project. */
export async function isProjectAdmin(auth: AuthComponents, caller: Caller, project: string): Promise<boolean> {
  return isAdminCaller(caller) || (caller.kind === "user" && (await auth.accounts.roleOf(project, caller.name)) === "admin");
}

export async function requireProjectAdmin(auth: AuthComponents, caller: Caller, project: string): Promise<void> {
  if (!(await isProjectAdmin(auth, caller, project))) throw new OciError("DENIED", "project administrators only");
}

/** Whoever may pull from the project (any member, anyone for a public one) may see its settings. */
export async function requireProjectViewer(auth: AuthComponents, caller: Caller, project: string): Promise<void> {
  if (caller.kind === "open" || !auth.token) return;
  if (!(await auth.token.policy.repositoryActions(caller, project)).includes("pull")) throw new OciError("DENIED", `pull access to project ${project} is required`);
}
