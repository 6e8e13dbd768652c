import type { Database } from "./database";
import type { Digest } from "../kernel/digest";
import type { WriterState } from "../storage/driver";

const LEASE_MS = 30_000;

/** The mirror's own facts: freshness of cached tags, and who is fetching which blob. */
export interface MirrorStore {
  /** When the upstream last confirmed this cached tag; null for a tag that was pushed here, not mirrored. */
  tagCheckedAt(repository: string, tag: string): Promise<Date | null>;
  markTagChecked(repository: string, tag: string, upstream: string): Promise<void>;
  /**
   * Takes the fetch lease for a digest, for a download into the upload `uploadId`, unless another live
   * owner holds it. A lease whose download proved corrupt is free to take again.
   */
  acquireFetch(digest: Digest, owner: string, uploadId: string): Promise<boolean>;
  renewFetch(digest: Digest, owner: string): Promise<void>;
  /**
   * Publishes how much of the download is durable in storage (and renews the lease). False when the lease
   * is no longer ours: it lapsed and another replica took the fetch over.
   */
  recordFetchProgress(digest: Digest, owner: string, progress: { written: number; size: number | null; state: WriterState }): Promise<boolean>;
  /** Tells the followers the download failed verification: they cut their transfers rather than take over. */
  markFetchCorrupt(digest: Digest, owner: string): Promise<void>;
  /** Ends this download's lease (not a later one of ours); a corrupt one stays, for its followers to see. */
  releaseFetch(digest: Digest, owner: string, uploadId: string): Promise<void>;
  /** The fetch of a digest as its followers see it, and the blob's size once it is published. */
  fetchProgress(digest: Digest): Promise<{ fetch: FetchProgress | null; publishedSize: number | null }>;
}

/** MirrorStore in plain SQL: conditional upserts (ON CONFLICT … WHERE) that the ORM cannot express. */
export class SqlMirrorStore implements MirrorStore {
  constructor(private readonly db: Pick<Database, "query">) {}

  async tagCheckedAt(repository: string, tag: string): Promise<Date | null> {
    const rows = await this.db.query<{ checked_at: Date }>(
      `SELECT mt.checked_at FROM mirror_tag mt JOIN repository r ON r.id = mt.repository_id
       WHERE r.name = $1 AND mt.tag = $2`,
      [repository, tag],
    );
    return rows[0]?.checked_at ?? null;
  }

  async markTagChecked(repository: string, tag: string, upstream: string): Promise<void> {
    await this.db.query(
      `INSERT INTO mirror_tag (repository_id, tag, upstream, checked_at)
       SELECT r.id, $2, $3, now() FROM repository r WHERE r.name = $1
       ON CONFLICT (repository_id, tag) DO UPDATE SET checked_at = now(), upstream = EXCLUDED.upstream`,
      [repository, tag, upstream],
    );
  }

  async acquireFetch(digest: Digest, owner: string, uploadId: string): Promise<boolean> {
    const rows = await this.db.query<{ owner: string }>(
      `INSERT INTO mirror_fetch (digest, owner, expires_at, upload_id)
       VALUES ($1, $2, now() + $3::int * interval '1 millisecond', $4::uuid)
       ON CONFLICT (digest) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, upload_id = EXCLUDED.upload_id,
         written = 0, size = NULL, writer_state = NULL, corrupt = false
         WHERE mirror_fetch.expires_at < now() OR mirror_fetch.owner = EXCLUDED.owner OR mirror_fetch.corrupt
       RETURNING owner`,
      [digest, owner, LEASE_MS, uploadId],
    );
    return rows.length > 0;
  }

  async renewFetch(digest: Digest, owner: string): Promise<void> {
    await this.db.query(
      `UPDATE mirror_fetch SET expires_at = now() + $3::int * interval '1 millisecond' WHERE digest = $1 AND owner = $2`,
      [digest, owner, LEASE_MS],
    );
  }

  async recordFetchProgress(digest: Digest, owner: string, progress: { written: number; size: number | null; state: WriterState }): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE mirror_fetch SET written = $3, size = $4, writer_state = $5::jsonb,
         expires_at = now() + $6::int * interval '1 millisecond'
       WHERE digest = $1 AND owner = $2 RETURNING 1`,
      [digest, owner, progress.written, progress.size, JSON.stringify(progress.state), LEASE_MS],
    );
    return rows.length > 0;
  }

  async markFetchCorrupt(digest: Digest, owner: string): Promise<void> {
    await this.db.query(`UPDATE mirror_fetch SET corrupt = true WHERE digest = $1 AND owner = $2`, [digest, owner]);
  }

  async releaseFetch(digest: Digest, owner: string, uploadId: string): Promise<void> {
    await this.db.query(
      `DELETE FROM mirror_fetch WHERE digest = $1 AND owner = $2 AND upload_id = $3::uuid AND NOT corrupt`,
      [digest, owner, uploadId],
    );
  }

  async fetchProgress(digest: Digest): Promise<{ fetch: FetchProgress | null; publishedSize: number | null }> {
    const rows = await this.db.query<{
      owner: string | null; upload_id: string | null; written: bigint | null; size: bigint | null; writer_state: WriterState | null;
      corrupt: boolean | null; live: boolean | null; blob_size: bigint | null;
    }>(
      `SELECT f.owner, f.upload_id::text AS upload_id, f.written, f.size, f.writer_state, f.corrupt, f.expires_at > now() AS live,
         (SELECT b.size FROM blob b WHERE b.digest = $1) AS blob_size
       FROM (SELECT 1) AS one LEFT JOIN mirror_fetch f ON f.digest = $1`,
      [digest],
    );
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
