import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { AccountRef } from "../metadata/account-store";
import type { CredentialStateSource } from "../metadata/credential-states";
import type { KeyRing } from "./signing-keys";
import type { AccountPrincipal, Principal } from "./principal";
import type { Access } from "./scope";

export interface TokenOptions {
  issuer: string;
  /** The registry's service name: the tokens' audience. */
  service: string;
  /** Access token lifetime; a function when it may change while running (the Settings page). */
  ttlSeconds: number | (() => number);
  refreshTtlSeconds: number;
  /** Accepted clock difference between this process and whoever issued a token. */
  clockSkewSeconds: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

/** The account a token was issued to, by id, and the account's credential generation then. */
export interface TokenAccount extends AccountRef {
  generation: number;
}

export interface VerifiedAccess {
  subject: string;
  /** Null for anonymous tokens. */
  account: TokenAccount | null;
  access: Access[];
  /** When the token was issued, in seconds (JWT `iat`). */
  issuedAt: number;
  expiresAt: number;
}

export interface VerifiedRefresh {
  subject: string;
  account: TokenAccount;
}

export class InvalidTokenError extends Error {}

/**
 * Issues and verifies the registry's JWTs (Docker registry token spec): short-lived access tokens whose
 * `access` claim lists what they allow, and refresh tokens (`typ: refresh`, no access) for `docker login`.
 * Verification pins the algorithm to the key's own (no `none`, no HS/RS confusion) and checks iss, aud,
 * exp and nbf. Verified access tokens are cached until they expire: the signature is checked once per token.
 *
 * Tokens name their account by id (`account: "user:5"`, never reused) with its credential generation
 * (`generation`). An access token whose account was deleted or disabled, or whose generation moved on, is
 * refused within the freshness of `states` (an announcement-driven cache: at once, at worst seconds).
 * Refresh tokens are checked against the database by whoever redeems them (Authenticator.byAccount).
 */
export class TokenService {
  private readonly verified = new Map<string, VerifiedAccess>();

  constructor(
    private readonly keys: KeyRing,
    private readonly options: TokenOptions,
    private readonly states: CredentialStateSource,
  ) {}

  issueAccess(principal: Principal, access: Access[]): IssuedToken {
    const now = Math.floor(Date.now() / 1000);
    const ttl = typeof this.options.ttlSeconds === "function" ? this.options.ttlSeconds() : this.options.ttlSeconds;
    return {
      token: this.sign({ sub: principal.name, ...accountClaims(principal), access, iat: now, nbf: now - 1 }, ttl),
      expiresIn: ttl,
      issuedAt: new Date(now * 1000).toISOString(),
    };
  }

  issueRefresh(principal: AccountPrincipal): string {
    const now = Math.floor(Date.now() / 1000);
    return this.sign({ sub: principal.name, ...accountClaims(principal), typ: "refresh", iat: now, nbf: now - 1 }, this.options.refreshTtlSeconds);
  }

  async verifyAccess(token: string): Promise<VerifiedAccess> {
    let result = this.verified.get(token);
    if (!result || result.expiresAt <= Date.now() / 1000 - this.options.clockSkewSeconds) {
      const claims = await this.verify(token);
      if (claims.typ !== undefined) throw new InvalidTokenError("not an access token");
      const subject = String(claims.sub ?? "");
      const account = parseAccountClaims(claims);
      // Tokens of an account always name it by id (tokens issued before ids were named have expired).
      if (subject && !account) throw new InvalidTokenError("token does not name its account");
      result = { subject, account, access: parseAccessClaim(claims.access), issuedAt: Number(claims.iat ?? 0), expiresAt: Number(claims.exp) };
      if (this.verified.size >= 10_000) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, result);
    }
    if (result.account && !(await this.stillValid(result.account))) {
      throw new InvalidTokenError("the token's account was deleted or disabled, or its credentials changed");
    }
    return result;
  }

  async verifyRefresh(token: string): Promise<VerifiedRefresh> {
    const claims = await this.verify(token);
    const account = parseAccountClaims(claims);
    if (claims.typ !== "refresh" || typeof claims.sub !== "string" || !claims.sub || !account) throw new InvalidTokenError("not a refresh token");
    return { subject: claims.sub, account };
  }

  private async stillValid(account: TokenAccount): Promise<boolean> {
    const state = await this.states.credentialState(account);
    return (
      state !== null && !state.disabled && state.generation === account.generation && (state.expiresAt === null || state.expiresAt.getTime() > Date.now())
    );
  }

  private sign(payload: Record<string, unknown>, ttlSeconds: number): string {
    const key = this.keys.signingKey();
    return jwt.sign({ ...payload, exp: (payload.iat as number) + ttlSeconds }, key.privateKey, {
      algorithm: key.algorithm,
      keyid: key.kid,
      issuer: this.options.issuer,
      audience: this.options.service,
      jwtid: randomUUID(),
    });
  }

  /**
   * True when the token bears a valid signature of ours, whatever its expiry or its account's state: a
   * credential Berth issued (the refusal audit records those, not every forged string a client sends).
   */
  async signedHere(token: string): Promise<boolean> {
    return this.verify(token, { ignoreExpiration: true, ignoreNotBefore: true }).then(
      () => true,
      () => false,
    );
  }

  private async verify(token: string, relax: Pick<jwt.VerifyOptions, "ignoreExpiration" | "ignoreNotBefore"> = {}): Promise<jwt.JwtPayload> {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === "string") throw new InvalidTokenError("malformed token");
    const kid = decoded.header.kid;
    if (!kid) throw new InvalidTokenError("token has no kid");
    const key = await this.keys.verificationKey(kid, this.options.refreshTtlSeconds);
    if (!key) throw new InvalidTokenError("token signed by an unknown key");
    // The algorithm follows from our key, never from the token's header.
    const algorithm = key.asymmetricKeyType === "ec" ? "ES256" : "RS256";
    try {
      const claims = jwt.verify(token, key, {
        algorithms: [algorithm],
        issuer: this.options.issuer,
        audience: this.options.service,
        clockTolerance: this.options.clockSkewSeconds,
        ...relax,
      }) as jwt.JwtPayload;
      if (typeof claims.exp !== "number") throw new Error("token has no exp");
      return claims;
    } catch (err) {
      throw new InvalidTokenError((err as Error).message);
    }
  }
}

const INT_MAX = 2 ** 31 - 1;

function accountClaims(principal: Principal): { account?: string; generation?: number } {
  return principal.kind === "anonymous" ? {} : { account: `${principal.kind}:${principal.id}`, generation: principal.generation };
}

function parseAccountClaims(claims: jwt.JwtPayload): TokenAccount | null {
  // Ids and generations are Postgres INTEGERs: anything else cannot name an account.
  const match = typeof claims.account === "string" ? /^(user|robot):([1-9][0-9]{0,9})$/.exec(claims.account) : null;
  if (!match || Number(match[2]) > INT_MAX || !Number.isInteger(claims.generation) || claims.generation > INT_MAX) return null;
  return { kind: match[1] as TokenAccount["kind"], id: Number(match[2]), generation: claims.generation as number };
}

function parseAccessClaim(claim: unknown): Access[] {
  if (!Array.isArray(claim)) return [];
  return claim.filter(
    (a): a is Access =>
      typeof a === "object" && a !== null && (a.type === "repository" || a.type === "registry" || a.type === "api") && typeof a.name === "string" &&
      Array.isArray(a.actions) && a.actions.every((x: unknown) => typeof x === "string"),
  );
}

/**
 * The subject a token says it was issued to, without checking it: only to describe a refused token
 * (it may be forged, so it is never taken as who acted). Null when it is no JWT.
 */
export function claimedSubject(token: string): string | null {
  const payload = jwt.decode(token);
  return payload && typeof payload === "object" && typeof payload.sub === "string" ? payload.sub : null;
}
