import type { RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { smallBody } from "../http/body-policy";
import { readSmallBody, sendJson } from "../http/respond";
import { readForm } from "../http/input-text";
import { DomainError } from "../kernel/errors";
import { OciError } from "../http/errors";
import { clientIp as requestClientIp } from "../http/client-info";
import { eventOrigin } from "../http/event-origin";
import type { EventSink } from "../events/event-bus";
import { parseBasic, type Authenticator } from "../auth/authenticator";
import type { AccessPolicy } from "../auth/policy";
import { ANONYMOUS, type Principal } from "../auth/principal";
import { formatScope, parseScopes } from "../auth/scope";
import { InvalidTokenError, type TokenAccount, type TokenService } from "../auth/tokens";

const MAX_FORM_BYTES = 64 * 1024;
/**
 * Scopes one token request may name. Docker asks for one to three; each costs a policy look-up, so a few
 * hundred in one cheap request cost seconds of server time.
 */
export const MAX_TOKEN_SCOPES = 50;

/** The requested scopes (a parameter may carry several, space-separated), refused past the cap. */
function requestedScopes(values: string[]): string[] {
  const scopes = values.flatMap((v) => v.split(" ")).filter(Boolean);
  if (scopes.length > MAX_TOKEN_SCOPES) throw new OciError("INVALID_REQUEST", `at most ${MAX_TOKEN_SCOPES} scopes per token request (${scopes.length} asked)`);
  return scopes;
}

/** GET and POST /token (a trailing slash allowed). */
export function registerTokenRoutes(router: RouteTable, deps: Parameters<typeof tokenHandlers>[0]): void {
  const token = tokenHandlers(deps);
  router.on("GET", /^\/token\/?$/, token.get).on("POST", /^\/token\/?$/, token.post, smallBody(MAX_FORM_BYTES));
}

/**
 * The token endpoint of the Docker registry token spec: `GET /token` (Basic credentials or anonymous) and
 * the OAuth2 `POST /token` form (grant_type=password | refresh_token) that `docker login` may use.
 * The token grants the requested scopes intersected with the account's rights.
 */
export function tokenHandlers(deps: { tokens: TokenService; authenticator: Authenticator; policy: AccessPolicy; events: EventSink }) {
  const { tokens, authenticator, policy, events } = deps;
  const clientIp = (ctx: RequestContext) => requestClientIp(ctx.req);

  async function respond(ctx: RequestContext, principal: Principal, scopes: string[], withRefresh: boolean, oauth: boolean): Promise<void> {
    const access = await policy.grant(principal, parseScopes(scopes));
    const issued = tokens.issueAccess(principal, access);
    const refresh = withRefresh && principal.kind !== "anonymous" ? tokens.issueRefresh(principal) : undefined;
    events.record({ ...eventOrigin(ctx.req, principal), action: "token", detail: { scope: access.map(formatScope) } });
    sendJson(ctx.res, 200, { "Cache-Control": "no-store" }, {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      ...(refresh ? { refresh_token: refresh } : {}),
      ...(oauth ? { scope: access.map(formatScope).join(" ") } : {}),
    });
  }

  return {
    async get(ctx: RequestContext): Promise<void> {
      // Counted before the password check: a refused request costs no hashing either.
      const scopes = requestedScopes(ctx.query.getAll("scope"));
      const basic = parseBasic(ctx.req.headers.authorization);
      let principal = ANONYMOUS;
      if (basic) {
        try {
          principal = await authenticator.login(basic.username, basic.password, clientIp(ctx));
        } catch (err) {
          if (err instanceof DomainError && err.code === "Unauthorized") {
            throw new OciError("UNAUTHORIZED", err.detail, { headers: { "WWW-Authenticate": 'Basic realm="berth"' } });
          }
          throw err;
        }
      }
      await respond(ctx, principal, scopes, ctx.query.get("offline_token") === "true", false);
    },

    async post(ctx: RequestContext): Promise<void> {
      const form = readForm(await readSmallBody(ctx.req, MAX_FORM_BYTES));
      const scopes = requestedScopes(form.getAll("scope"));
      const grantType = form.get("grant_type");
      if (grantType === "password") {
        const username = form.get("username");
        const password = form.get("password");
        if (!username || password === null) throw new OciError("INVALID_REQUEST", "username and password are required");
        const principal = await authenticator.login(username, password, clientIp(ctx));
        return respond(ctx, principal, scopes, form.get("access_type") === "offline", true);
      }
      if (grantType === "refresh_token") {
        const refreshToken = form.get("refresh_token");
        if (!refreshToken) throw new OciError("INVALID_REQUEST", "refresh_token is required");
        let account: TokenAccount;
        try {
          account = (await tokens.verifyRefresh(refreshToken)).account;
        } catch (err) {
          if (err instanceof InvalidTokenError) throw new OciError("UNAUTHORIZED", `invalid refresh token: ${err.message}`);
          throw err;
        }
        // Read from the database, not a cache: a password change or demotion ends refresh tokens at once.
        const principal = await authenticator.byAccount(account, account.generation);
        if (!principal) throw new OciError("UNAUTHORIZED", "the account behind this refresh token was deleted or disabled, or its credentials changed");
        return respond(ctx, principal, scopes, true, true);
      }
      throw new OciError("INVALID_REQUEST", "grant_type must be password or refresh_token");
    },
  };
}
