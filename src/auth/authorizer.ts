import { DomainError } from "../kernel/errors";
import type { Authenticator } from "./authenticator";
import { parseBasic, parseBearer } from "./authenticator";
import type { AccessPolicy } from "./policy";
import { ANONYMOUS, type Principal } from "./principal";
import { allows, coversAll, formatScope, intersect, type Access, type ResourceType } from "./scope";
import { InvalidTokenError, type TokenService, type VerifiedAccess } from "./tokens";

export interface AccessRequirement {
  /** What the route needs; an empty list still needs a valid identity (anonymous tokens count). */
  required: Access[];
  /** What the route may use if granted (e.g. pull on a mount's source repository). */
  optional?: Access[];
}

export interface Grant {
  /** Who is acting ("" for anonymous). */
  subject: string;
  can(type: ResourceType, name: string, action: string): boolean;
}

/** What the authorizer needs of a request; the HTTP layer reads it off the wire (auth knows no HTTP). */
export interface AuthRequest {
  /** The Authorization header, if any. */
  authorization: string | undefined;
  /** The client's address (login throttling) and the origin it reached Berth by (the default token realm). */
  client: { ip: string; origin: string };
}

export interface Authorizer {
  authorize(req: AuthRequest, requirement: AccessRequirement): Promise<Grant>;
}

/** BERTH_AUTH=off: an open registry for local use. */
export const OPEN_AUTHORIZER: Authorizer = {
  async authorize() {
    return { subject: "", can: () => true };
  },
};

export interface ChallengeOptions {
  service: string;
  /** The token endpoint's URL; null to derive it from how the request reached us (scheme and Host). */
  realm: string | null;
}

/**
 * Checks every /v2 request: a Bearer token from /token (signature, iss, aud, exp, then its access claim),
 * or Basic credentials checked directly. Without credentials, or with a token lacking the scope, the answer
 * is 401 with the challenge that tells the client which token to fetch; an authenticated account that
 * truly lacks the right gets 403 DENIED.
 */
export class TokenAuthorizer implements Authorizer {
  constructor(
    private readonly tokens: TokenService,
    private readonly authenticator: Authenticator,
    private readonly policy: AccessPolicy,
    private readonly challenge: ChallengeOptions,
  ) {}

  async authorize(req: AuthRequest, requirement: AccessRequirement): Promise<Grant> {
    const header = req.authorization;
    const token = parseBearer(header);
    if (token) return this.byToken(req, token, requirement);
    const basic = parseBasic(header);
    if (basic) {
      let principal: Principal;
      try {
        principal = await this.authenticator.login(basic.username, basic.password, req.client.ip);
      } catch (err) {
        if (err instanceof DomainError && err.code === "Unauthorized") throw this.unauthorized(req, requirement, "invalid username or password");
        throw err;
      }
      const granted = await this.policy.grant(principal, [...requirement.required, ...(requirement.optional ?? [])]);
      if (!coversAll(granted, requirement.required)) throw denied(requirement.required);
      return this.finish(async () => principal, granted, requirement, principal.name);
    }
    throw this.unauthorized(req, requirement, "authentication required");
  }

  private async byToken(req: AuthRequest, token: string, requirement: AccessRequirement): Promise<Grant> {
    let verified;
    try {
      verified = await this.tokens.verifyAccess(token);
    } catch (err) {
      if (err instanceof InvalidTokenError) throw this.unauthorized(req, requirement, `invalid token: ${err.message}`, "invalid_token");
      throw err;
    }
    const account = verified.account;
    if (coversAll(verified.access, requirement.required)) {
      // Looked up at most once per request (the re-check and ensureProject may both need it), and only then.
      let looked: Promise<Principal> | undefined;
      const principal = () => (looked ??= (async () => (account ? await this.authenticator.byAccount(account, account.generation) : null) ?? ANONYMOUS)());
      const access = await this.stillGranted(verified, requirement, principal);
      if (!access) throw this.unauthorized(req, requirement, "token was granted on a project that has since been deleted", "insufficient_scope");
      return this.finish(principal, access, requirement, verified.subject);
    }
    // The token lacks the scope. If the account could get it, send the client back for a new token;
    // if it never could, say so plainly.
    const principal = account ? await this.authenticator.byAccount(account, account.generation) : null;
    if (principal && !coversAll(await this.policy.grant(principal, requirement.required), requirement.required)) {
      throw denied(requirement.required);
    }
    throw this.unauthorized(req, requirement, "token does not grant the required access", "insufficient_scope");
  }

  /**
   * The token's rights, unless a project it names was created after it was issued: a token granted on a
   * deleted project must not open the project created next under that name. Then the rights are decided
   * again for the account as it is now (null when they no longer cover the request).
   */
  private async stillGranted(verified: VerifiedAccess, requirement: AccessRequirement, principal: () => Promise<Principal>): Promise<Access[] | null> {
    const asked = [...requirement.required, ...(requirement.optional ?? [])].filter((a) => a.type === "repository");
    const current = await Promise.all(asked.map((a) => this.policy.tokenPredatesProject(a.name, verified.issuedAt)));
    if (current.every(Boolean)) return verified.access;
    const live = await this.policy.grant(await principal(), asked);
    const access = [
      ...intersect(live, (a) => verified.access.find((t) => t.type === a.type && t.name === a.name)?.actions ?? []),
      ...verified.access.filter((a) => a.type !== "repository"),
    ];
    return coversAll(access, requirement.required) ? access : null;
  }

  private async finish(
    principal: () => Promise<Principal>,
    granted: readonly Access[],
    requirement: AccessRequirement,
    subject: string,
  ): Promise<Grant> {
    // A first push into a project that does not exist yet creates it, owned by the pusher.
    for (const r of requirement.required) {
      if (r.type === "repository" && r.actions.includes("push")) await this.policy.ensureProject(principal, r.name);
    }
    return { subject, can: (type, name, action) => allows(granted, type, name, action) };
  }

  private unauthorized(req: AuthRequest, requirement: AccessRequirement, detail: string, error?: string): DomainError {
    const realm = this.challenge.realm ?? `${req.client.origin}/token`;
    const params: Record<string, string> = { realm, service: this.challenge.service };
    const scopes = requirement.required.map(formatScope).join(" ");
    if (scopes) params.scope = scopes;
    if (error) params.error = error;
    return new DomainError("Unauthorized", detail, { challenge: { scheme: "Bearer", params } });
  }
}

function denied(required: readonly Access[]): DomainError {
  return new DomainError("Denied", { required: required.map(formatScope) });
}
