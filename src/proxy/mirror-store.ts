import type { PrismaClient } from "../generated/prisma/client";
import type { Digest } from "../kernel/digest";
import type { WriterState } from "../storage/driver";

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

  /**
   * Takes the fetch lease for a digest, for a download into the upload `uploadId`, unless another live
   * owner holds it. A lease whose download proved corrupt is free to take again.
   */
  async acquireFetch(digest: Digest, owner: string, uploadId: string): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<Array<{ owner: string }>>`
      INSERT INTO mirror_fetch (digest, owner, expires_at, upload_id)
      VALUES (${digest}, ${owner}, now() + ${LEASE_MS} * interval '1 millisecond', ${uploadId}::uuid)
      ON CONFLICT (digest) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, upload_id = EXCLUDED.upload_id,
        written = 0, size = NULL, writer_state = NULL, corrupt = false
        WHERE mirror_fetch.expires_at < now() OR mirror_fetch.owner = EXCLUDED.owner OR mirror_fetch.corrupt
      RETURNING owner`;
    return rows.length > 0;
  }

  async renewFetch(digest: Digest, owner: string): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE mirror_fetch SET expires_at = now() + ${LEASE_MS} * interval '1 millisecond' WHERE digest = ${digest} AND owner = ${owner}`;
  }

  /**
   * Publishes how much of the download is durable in storage (and renews the lease). False when the lease
   * is no longer ours: it lapsed and another replica took the fetch over.
   */
  async recordFetchProgress(digest: Digest, owner: string, progress: { written: number; size: number | null; state: WriterState }): Promise<boolean> {
    const count = await this.prisma.$executeRaw`
      UPDATE mirror_fetch SET written = ${progress.written}, size = ${progress.size}, writer_state = ${JSON.stringify(progress.state)}::jsonb,
        expires_at = now() + ${LEASE_MS} * interval '1 millisecond'
      WHERE digest = ${digest} AND owner = ${owner}`;
    return count > 0;
  }

  /** Tells the followers the download failed verification: they cut their transfers rather than take over. */
  async markFetchCorrupt(digest: Digest, owner: string): Promise<void> {
    await this.prisma.$executeRaw`UPDATE mirror_fetch SET corrupt = true WHERE digest = ${digest} AND owner = ${owner}`;
  }

  /** Ends this download's lease (not a later one of ours); a corrupt one stays, for its followers to see. */
  async releaseFetch(digest: Digest, owner: string, uploadId: string): Promise<void> {
    await this.prisma.$executeRaw`
      DELETE FROM mirror_fetch WHERE digest = ${digest} AND owner = ${owner} AND upload_id = ${uploadId}::uuid AND NOT corrupt`;
  }

  /** The fetch of a digest as its followers see it, and the blob's size once it is published. */
  async fetchProgress(digest: Digest): Promise<{ fetch: FetchProgress | null; publishedSize: number | null }> {
    const rows = await this.prisma.$queryRaw<
      Array<{ owner: string | null; upload_id: string | null; written: bigint | null; size: bigint | null; writer_state: WriterState | null; corrupt: boolean | null; live: boolean | null; blob_size: bigint | null }>
    >`
      SELECT f.owner, f.upload_id::text AS upload_id, f.written, f.size, f.writer_state, f.corrupt, f.expires_at > now() AS live,
        (SELECT b.size FROM blob b WHERE b.digest = ${digest}) AS blob_size
      FROM (SELECT 1) AS one LEFT JOIN mirror_fetch f ON f.digest = ${digest}`;
    const row = rows[0];
    const fetch =
      row.owner === null
        ? null
        : {
            owner: row.owner,
            uploadId: row.upload_id,
            written: Number(row.written),
            size: row.size === null ? null : Number(row.size),
            state: row.writer_state,
            corrupt: row.corrupt === true,
            live: row.live === true,
          };
    return { fetch, publishedSize: row.blob_size === null ? null : Number(row.blob_size) };
  }
}

/** One replica's fetch of a digest: `written` bytes of upload `uploadId` are durable and readable with `state`. */
export interface FetchProgress {
  owner: string;
  uploadId: string | null;
  written: number;
  size: number | null;
  state: WriterState | null;
  corrupt: boolean;
  live: boolean;
}
