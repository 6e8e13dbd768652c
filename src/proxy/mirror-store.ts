import type { PrismaClient } from "../generated/prisma/client";
import type { Digest } from "../registry/digest";

const LEASE_MS = 30_000;

/** The mirror's own facts in Postgres: freshness of cached tags, and who is fetching which blob. */
export class MirrorStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** When the upstream last confirmed this cached tag; null for a tag that was pushed here, not mirrored. */
  async tagCheckedAt(repository: string, tag: string): Promise<Date | null> {
    const rows = await this.prisma.$queryRaw<Array<{ checked_at: Date }>>`
      SELECT mt.checked_at FROM mirror_tag mt JOIN repository r ON r.id = mt.repository_id
      WHERE r.name = ${repository} AND mt.tag = ${tag}`;
    return rows[0]?.checked_at ?? null;
  }

  async markTagChecked(repository: string, tag: string, upstream: string): Promise<void> {
    await this.prisma.$executeRaw`
      INSERT INTO mirror_tag (repository_id, tag, upstream, checked_at)
      SELECT r.id, ${tag}, ${upstream}, now() FROM repository r WHERE r.name = ${repository}
      ON CONFLICT (repository_id, tag) DO UPDATE SET checked_at = now(), upstream = EXCLUDED.upstream`;
  }

  /** Takes the fetch lease for a digest unless another live owner holds it. */
  async acquireFetch(digest: Digest, owner: string): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<Array<{ owner: string }>>`
      INSERT INTO mirror_fetch (digest, owner, expires_at) VALUES (${digest}, ${owner}, now() + ${LEASE_MS} * interval '1 millisecond')
      ON CONFLICT (digest) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
        WHERE mirror_fetch.expires_at < now() OR mirror_fetch.owner = EXCLUDED.owner
      RETURNING owner`;
    return rows.length > 0;
  }

  async renewFetch(digest: Digest, owner: string): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE mirror_fetch SET expires_at = now() + ${LEASE_MS} * interval '1 millisecond' WHERE digest = ${digest} AND owner = ${owner}`;
  }

  async releaseFetch(digest: Digest, owner: string): Promise<void> {
    await this.prisma.$executeRaw`DELETE FROM mirror_fetch WHERE digest = ${digest} AND owner = ${owner}`;
  }

  /**
   * Waits while another owner's live lease stands and `done` stays false. The owner renews its lease while
   * its fetch makes progress, so a dead owner's lease lapses within LEASE_MS and the wait ends.
   */
  async waitForFetch(digest: Digest, done: () => Promise<boolean>): Promise<void> {
    for (;;) {
      if (await done()) return;
      const rows = await this.prisma.$queryRaw<Array<{ live: boolean }>>`
        SELECT expires_at > now() AS live FROM mirror_fetch WHERE digest = ${digest}`;
      if (!rows[0]?.live) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
