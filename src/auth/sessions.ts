import { createHash, randomBytes } from "node:crypto";
import type { WebSessionStore } from "../metadata/session-store";
import type { AccountRef } from "../metadata/account-store";
import type { AccountPrincipal } from "./principal";

export interface WebSession {
  /** The account as it is now. */
  principal: AccountPrincipal;
  csrfToken: string;
  expiresAt: Date;
}

/** The account a session names, as it is now; null when deleted, disabled or of another credential generation. */
export type CurrentAccount = (account: AccountRef, generation: number) => Promise<AccountPrincipal | null>;

/**
 * Browser logins, kept in Postgres so every replica knows them and logout ends them everywhere. The
 * cookie carries 32 random bytes; only their SHA-256 is stored. A session names its user by id with the
 * user's credential generation, read afresh on every request: a password change, disabling, deletion or
 * loss of rights ends it at once, on every replica, and a new account with the same name inherits nothing.
 */
export class WebSessions {
  constructor(
    private readonly store: WebSessionStore,
    private readonly ttlSeconds: number,
    private readonly current: CurrentAccount,
  ) {}

  async create(principal: AccountPrincipal & { kind: "user" }): Promise<{ token: string; session: WebSession }> {
    const token = randomBytes(32).toString("base64url");
    const session: WebSession = {
      principal,
      csrfToken: randomBytes(24).toString("base64url"),
      expiresAt: new Date(Date.now() + this.ttlSeconds * 1000),
    };
    await this.store.create({ id: hashToken(token), userId: principal.id, generation: principal.generation, csrfToken: session.csrfToken, expiresAt: session.expiresAt });
    // Expired rows go on logins, so the table never grows with abandoned sessions.
    await this.store.deleteExpired(new Date());
    return { token, session };
  }

  async resolve(token: string): Promise<WebSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const row = await this.store.find(hashToken(token));
    if (!row || row.expiresAt.getTime() <= Date.now()) return null;
    const principal = await this.current({ kind: "user", id: row.userId }, row.generation);
    if (!principal) {
      await this.store.delete(row.id);
      return null;
    }
    return { principal, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
  }

  async destroy(token: string): Promise<void> {
    await this.store.delete(hashToken(token));
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
