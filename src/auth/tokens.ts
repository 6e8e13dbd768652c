import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { KeyRing } from "./signing-keys";
import type { Access } from "./scope";

export interface TokenOptions {
  issuer: string;
  /** The registry's service name: the tokens' audience. */
  service: string;
  ttlSeconds: number;
  refreshTtlSeconds: number;
  /** Accepted clock difference between this process and whoever issued a token. */
  clockSkewSeconds: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export interface VerifiedAccess {
  subject: string;
  access: Access[];
  /** When the token was issued, in seconds (JWT `iat`). */
  issuedAt: number;
  expiresAt: number;
}

export class InvalidTokenError extends Error {}

/**
 * Issues and verifies the registry's JWTs (Docker registry token spec): short-lived access tokens whose
 * `access` claim lists what they allow, and refresh tokens (`typ: refresh`, no access) for `docker login`.
 * Verification pins the algorithm to the key's own (no `none`, no HS/RS confusion) and checks iss, aud,
 * exp and nbf. Verified access tokens are cached until they expire: the signature is checked once per token.
 */
export class TokenService {
  private readonly verified = new Map<string, VerifiedAccess>();

  constructor(
    private readonly keys: KeyRing,
    private readonly options: TokenOptions,
  ) {}

  issueAccess(subject: string, access: Access[]): IssuedToken {
    const now = Math.floor(Date.now() / 1000);
    return {
      token: this.sign({ sub: subject, access, iat: now, nbf: now - 1 }, this.options.ttlSeconds),
      expiresIn: this.options.ttlSeconds,
      issuedAt: new Date(now * 1000).toISOString(),
    };
  }

  issueRefresh(subject: string): string {
    const now = Math.floor(Date.now() / 1000);
    return this.sign({ sub: subject, typ: "refresh", iat: now, nbf: now - 1 }, this.options.refreshTtlSeconds);
  }

  async verifyAccess(token: string): Promise<VerifiedAccess> {
    const cached = this.verified.get(token);
    if (cached && cached.expiresAt > Date.now() / 1000 - this.options.clockSkewSeconds) return cached;
    const claims = await this.verify(token);
    if (claims.typ !== undefined) throw new InvalidTokenError("not an access token");
    const result: VerifiedAccess = { subject: String(claims.sub ?? ""), access: parseAccessClaim(claims.access), issuedAt: Number(claims.iat ?? 0), expiresAt: Number(claims.exp) };
    if (this.verified.size >= 10_000) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, result);
    return result;
  }

  async verifyRefresh(token: string): Promise<string> {
    const claims = await this.verify(token);
    if (claims.typ !== "refresh" || typeof claims.sub !== "string" || !claims.sub) throw new InvalidTokenError("not a refresh token");
    return claims.sub;
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

  private async verify(token: string): Promise<jwt.JwtPayload> {
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
      }) as jwt.JwtPayload;
      if (typeof claims.exp !== "number") throw new Error("token has no exp");
      return claims;
    } catch (err) {
      throw new InvalidTokenError((err as Error).message);
    }
  }
}

function parseAccessClaim(claim: unknown): Access[] {
  if (!Array.isArray(claim)) return [];
  return claim.filter(
    (a): a is Access =>
      typeof a === "object" && a !== null && (a.type === "repository" || a.type === "registry") && typeof a.name === "string" &&
      Array.isArray(a.actions) && a.actions.every((x: unknown) => typeof x === "string"),
  );
}
