import { createHash, randomBytes } from "node:crypto";
import type { PrismaClient } from "../generated/prisma/client";

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
    private readonly prisma: PrismaClient,
    private readonly ttlSeconds: number,
  ) {}

  async create(username: string): Promise<{ token: string; session: WebSession }> {
    const token = randomBytes(32).toString("base64url");
    const session: WebSession = {
      username,
      csrfToken: randomBytes(24).toString("base64url"),
      expiresAt: new Date(Date.now() + this.ttlSeconds * 1000),
    };
    await this.prisma.webSession.create({ data: { id: hashToken(token), ...session } });
    // Expired rows go on logins, so the table never grows with abandoned sessions.
    await this.prisma.webSession.deleteMany({ where: { expiresAt: { lt: new Date() } } });
    return { token, session };
  }

  async resolve(token: string): Promise<WebSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const row = await this.prisma.webSession.findUnique({ where: { id: hashToken(token) } });
    if (!row || row.expiresAt.getTime() <= Date.now()) return null;
    return { username: row.username, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
  }

  async destroy(token: string): Promise<void> {
    await this.prisma.webSession.deleteMany({ where: { id: hashToken(token) } });
  }

  /** Ends every session of an account (its password changed, it was disabled or deleted). */
  async destroyAll(username: string): Promise<void> {
    await this.prisma.webSession.deleteMany({ where: { username } });
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
