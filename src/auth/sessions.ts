import { createHash, randomBytes } from "node:crypto";
import type { WebSessionStore } from "../metadata/session-store";

export interface WebSession {
  username: string;
  csrfToken: string;
  expiresAt: Date;
}

/**
 * Browser logins, kept in Postgres so every replica knows them and logout ends them everywhere. The
 * cookie carries 32 random bytes; only their SHA-256 is stored.
 */
export class WebSessions {
  constructor(
    private readonly store: WebSessionStore,
    private readonly ttlSeconds: number,
  ) {}

  async create(username: string): Promise<{ token: string; session: WebSession }> {
    const token = randomBytes(32).toString("base64url");
    const session: WebSession = {
      username,
      csrfToken: randomBytes(24).toString("base64url"),
      expiresAt: new Date(Date.now() + this.ttlSeconds * 1000),
    };
    await this.store.create({ id: hashToken(token), ...session });
    // Expired rows go on logins, so the table never grows with abandoned sessions.
    await this.store.deleteExpired(new Date());
    return { token, session };
  }

  async resolve(token: string): Promise<WebSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const row = await this.store.find(hashToken(token));
    if (!row || row.expiresAt.getTime() <= Date.now()) return null;
    return { username: row.username, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
  }

  async destroy(token: string): Promise<void> {
    await this.store.delete(hashToken(token));
  }

  /** Ends every session of an account (its password changed, it was disabled or deleted). */
  async destroyAll(username: string): Promise<void> {
    await this.store.deleteOfUser(username);
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
