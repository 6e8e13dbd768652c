import type { PrismaClient } from "../generated/prisma/client";

/**
 * A browser login as stored: `id` is the SHA-256 of the cookie's token, never the token itself; the user by
 * id (never reused) and the user's credential generation at login.
 */
export interface WebSessionRow {
  id: string;
  userId: number;
  generation: number;
  csrfToken: string;
  expiresAt: Date;
}

export interface WebSessionStore {
  create(session: WebSessionRow): Promise<void>;
  find(id: string): Promise<WebSessionRow | null>;
  delete(id: string): Promise<void>;
  deleteExpired(now: Date): Promise<void>;
}

export class PrismaWebSessionStore implements WebSessionStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(session: WebSessionRow): Promise<void> {
    await this.prisma.webSession.create({ data: session });
  }

  find(id: string): Promise<WebSessionRow | null> {
    return this.prisma.webSession.findUnique({ where: { id }, select: { id: true, userId: true, generation: true, csrfToken: true, expiresAt: true } });
  }

  async delete(id: string): Promise<void> {
    await this.prisma.webSession.deleteMany({ where: { id } });
  }

  async deleteExpired(now: Date): Promise<void> {
    await this.prisma.webSession.deleteMany({ where: { expiresAt: { lt: now } } });
  }
}
