import type { PrismaClient } from "../generated/prisma/client";

/** A token signing key as stored: PEM text, so every replica signs and verifies with the same keys. */
export interface SigningKeyRow {
  kid: string;
  algorithm: string;
  privateKey: string;
  publicKey: string;
  createdAt: Date;
  retiredAt: Date | null;
}

export type NewSigningKeyRow = Pick<SigningKeyRow, "kid" | "algorithm" | "privateKey" | "publicKey">;

export interface SigningKeyStore {
  /**
   * The newest unretired key; when there is none, the one `generate` makes, stored. Replicas starting at
   * once agree on one key.
   */
  ensureActive(generate: () => NewSigningKeyRow): Promise<SigningKeyRow | NewSigningKeyRow>;
  /** Retires every key and makes `fresh` the active one, atomically. */
  rotate(fresh: NewSigningKeyRow): Promise<void>;
  /** Unretired keys and those retired after `cutoff`. */
  usable(cutoff: Date): Promise<SigningKeyRow[]>;
}

export class PrismaSigningKeyStore implements SigningKeyStore {
  constructor(private readonly prisma: PrismaClient) {}

  async ensureActive(generate: () => NewSigningKeyRow): Promise<SigningKeyRow | NewSigningKeyRow> {
    const existing = await this.prisma.signingKey.findFirst({ where: { retiredAt: null }, orderBy: { createdAt: "desc" } });
    if (existing) return existing;
    // Two replicas starting at once may both get here: the transaction-level advisory lock lets one insert.
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(72707371)`; // not the collector's 72707370
      const again = await tx.signingKey.findFirst({ where: { retiredAt: null }, orderBy: { createdAt: "desc" } });
      if (again) return again;
      const key = generate();
      await tx.signingKey.create({ data: key });
      return key;
    });
  }

  async rotate(fresh: NewSigningKeyRow): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: new Date() } }),
      this.prisma.signingKey.create({ data: fresh }),
    ]);
  }

  usable(cutoff: Date): Promise<SigningKeyRow[]> {
    return this.prisma.signingKey.findMany({ where: { OR: [{ retiredAt: null }, { retiredAt: { gt: cutoff } }] } });
  }
}
