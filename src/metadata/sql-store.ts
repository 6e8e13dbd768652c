import type { Database, Query } from "./database";
import type { ContentCache } from "./content-cache";
import type { Digest } from "../kernel/digest";
import { DomainError } from "../kernel/errors";
import { formatBytes } from "../config/byte-size";
import type { RepositoryName, TagName } from "../kernel/names";
import type { WriterState } from "../storage/driver";
import type {
  BlobRecord,
  ManifestRecord,
  ManifestReference,
  MetadataStore,
  NewManifest,
  PageRequest,
  PutManifestOptions,
  ReferrerRecord,
  UploadRecord,
} from "./store";

class RawDatabaseError extends Error {
  constructor(cause: unknown) {
    super(`database query failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "RawDatabaseError";
  }
}

/**
 * The driver's error as the client should see it. A write naming a repository row that a concurrent
 * deletion (its project's, src/metadata/account-store.ts) removed breaks the row's foreign key: that
 * repository is gone, which is the client's answer, not a server failure.
 */
function storeError(err: unknown): Error {
  if ((err as { code?: string }).code === QUOTA_EXCEEDED) return quotaExceeded(err);
  if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) {
    return new DomainError("NameUnknown", "the repository was deleted while this request wrote to it", { cause: err });
  }
  return new RawDatabaseError(err);
}

const FOREIGN_KEY_VIOLATION = "23503";

/** SQLSTATE of a write the project's quota has no room for (migration 20261205150200_project_quotas). */
const QUOTA_EXCEEDED = "BR002";

/** The refusal with the figures the database put in the error's DETAIL. */
function quotaExceeded(err: unknown): DomainError {
  return quotaRefusal(JSON.parse((err as { detail: string }).detail) as QuotaFigures, err);
}

interface QuotaFigures {
  project: string;
  quota: number;
  used: number;
  needed: number;
}

function quotaRefusal(figures: QuotaFigures, err?: unknown): DomainError {
  const detail = { project: figures.project, quotaBytes: Number(figures.quota), usedBytes: Number(figures.used), neededBytes: Number(figures.needed) };
  return new DomainError("QuotaExceeded", detail, {
    cause: err,
    summary:
      `project ${detail.project} storage quota ${formatBytes(detail.quotaBytes)} exceeded: ` +
      `${formatBytes(detail.usedBytes)} used, this push needs ${formatBytes(detail.neededBytes)} more`,
  });
}

/** How long a blob link found in the database is trusted from memory when no touch interval bounds it. */
const BLOB_LINK_TTL_MS = 5 * 60 * 1000;

/** SQLSTATE berth_put_manifest raises when an immutable tag was taken by a racing push. */
const IMMUTABLE_TAG_RACED = "BR001";

/**
 * CTEs ending in `repo(id)`: the repository named $1, its row created on first use. Neither path locks
 * the row (an upsert's DO UPDATE would, until commit, and every write to one repository would queue
 * behind the one before). When another transaction creates the row at the same moment, `repo` comes out
 * empty: its statement's snapshot predates that row. withRepositoryRow() then runs the statement again.
 */
const REPOSITORY_CTE = `
  existing AS (SELECT id FROM repository WHERE name = $1),
  created AS (
    INSERT INTO repository (name) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (name) DO NOTHING RETURNING id
  ),
  repo AS (SELECT id FROM existing UNION ALL SELECT id FROM created)`;

/** Runs `attempt` (a statement using REPOSITORY_CTE) until the repository row was visible to it. */
async function withRepositoryRow<T>(attempt: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < 5; i++) {
    const result = await attempt();
    if (result !== null) return result;
  }
  throw new Error("repository row neither found nor created after 5 attempts");
}

/** Records the blob (touching it when known) and links it into the repository: one statement. */
async function linkBlobIn(q: Query, repository: RepositoryName, blob: BlobRecord): Promise<void> {
  await withRepositoryRow(async () => {
    // Data-modifying CTEs all run, together; foreign keys are checked at the statement's end.
    const [{ found }] = await q<{ found: number }>(
      `WITH ${REPOSITORY_CTE},
       b AS (
         INSERT INTO blob (digest, size) VALUES ($2, $3)
         ON CONFLICT (digest) DO UPDATE SET last_touched_at = now() RETURNING digest
       ),
       link AS (
         INSERT INTO repository_blob (repository_id, digest) SELECT repo.id, b.digest FROM repo, b
         ON CONFLICT DO NOTHING
       )
       SELECT count(*)::int AS found FROM repo`,
      [repository, blob.digest, blob.size],
    );
    return found > 0 ? true : null;
  });
}

/**
 * MetadataStore in plain SQL on the driver (Database.query / Database.transaction): profiles showed the
 * ORM's query compilation and interactive-transaction bookkeeping costing more CPU than the database
 * round trips themselves, on paths every push and pull takes.
 *
 * Row lock order, kept by every transaction here and by the garbage collector so that none can deadlock:
 * a blob row before a repository row; a repository row before that repository's tag, manifest and
 * repository_blob rows. (See src/gc/collector.ts for why the collector depends on these locks.)
 */
export class SqlMetadataStore implements MetadataStore {
  constructor(
    private readonly db: Pick<Database, "query" | "transaction">,
    /** Serves repeated manifest reads from memory; writes here drop what they change from it. */
    private readonly cache: ContentCache | null = null,
  ) {}

  /**
   * A write to the repository's manifests or tags: the cache drops the repository when it is done, so
   * this process reads its own writes at once (other processes hear of them from the database).
   */
  private async changing<T>(repository: RepositoryName, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.cache?.dropRepository(repository);
    }
  }

  private async run<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
    try {
      return await this.db.query<R>(sql, params);
    } catch (err) {
      // The driver's failures (refused connections included) are named as database failures, like the ORM's.
      throw storeError(err);
    }
  }

  private async transaction<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    let thrownByFn = false;
    try {
      return await this.db.transaction((tx) => {
        const q: Query = <R>(sql: string, params?: readonly unknown[]) =>
          tx<R>(sql, params).catch((err: unknown) => Promise.reject(storeError(err)));
        return fn(q).catch((err: unknown) => {
          thrownByFn = true;
          throw err;
        });
      });
    } catch (err) {
      // fn's own errors (ours, storage's, its statements' already named) pass as they are; the rest came
      // from taking a connection, BEGIN or COMMIT.
      throw thrownByFn ? err : new RawDatabaseError(err);
    }
  }

  async findLinkedBlob(repository: RepositoryName, digest: Digest, options: { touchIfIdleMs?: number } = {}): Promise<BlobRecord | null> {
    const cached = this.cache?.lookupBlob(repository, digest);
    if (cached) return cached;
    const ticket = this.cache?.ticket() ?? -1;
    // The idle check rides along in the same round trip; the write only happens when it is due.
    const idleSeconds = options.touchIfIdleMs === undefined ? null : options.touchIfIdleMs / 1000;
    const rows = await this.run<{ size: bigint; idle: boolean | null; repository_id: number }>(
      `SELECT b.size, b.last_touched_at < now() - make_interval(secs => $3::float8) AS idle, r.id AS repository_id
       FROM repository_blob rb
       JOIN repository r ON r.id = rb.repository_id
       JOIN blob b ON b.digest = rb.digest
       WHERE r.name = $1 AND rb.digest = $2`,
      [repository, digest, idleSeconds],
    );
    if (!rows.length) return null;
    if (rows[0].idle === true) {
      await this.run(
        `UPDATE blob SET last_touched_at = now()
         WHERE digest = $1 AND last_touched_at < now() - make_interval(secs => $2::float8)`,
        [digest, idleSeconds],
      );
    }
    const blob = { digest, size: Number(rows[0].size) };
    // Touched no longer ago than touchIfIdleMs now; served from memory for as long again, its last touch is
    // never older than twice that when the next lookup reaches the database (the grace is four times it).
    this.cache?.fillBlob(ticket, repository, rows[0].repository_id, { blob, freshUntil: Date.now() + (options.touchIfIdleMs ?? BLOB_LINK_TTL_MS) });
    return blob;
  }

  async linkBlob(repository: RepositoryName, blob: BlobRecord): Promise<void> {
    await linkBlobIn((sql, params) => this.run(sql, params ?? []), repository, blob);
  }

  async publishBlob(repository: RepositoryName, blob: BlobRecord, place: () => Promise<void>): Promise<void> {
    await this.publish(repository, blob, place, null);
  }

  async publishUpload(repository: RepositoryName, upload: { id: string; offset: number }, blob: BlobRecord, place: () => Promise<void>): Promise<boolean> {
    return this.publish(repository, blob, place, upload);
  }

  private publish(repository: RepositoryName, blob: BlobRecord, place: () => Promise<void>, upload: { id: string; offset: number } | null): Promise<boolean> {
    return this.transaction(async (q) => {
      // Creating or touching the row locks it until commit: a collector deleting this blob holds the same
      // lock while it deletes the bytes, so the bytes we place cannot be deleted behind our back. The blob is
      // linked in the same statement (into the upload session's repository, the session claimed — deleted,
      // if still where we left it — there too); the link is visible only at commit, with the bytes in place.
      if (upload) {
        const [{ claimed }] = await q<{ claimed: number }>(
          `WITH claimed AS (DELETE FROM upload WHERE id = $3::uuid AND "offset" = $4 RETURNING repository_id),
           b AS (
             INSERT INTO blob (digest, size) SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM claimed)
             ON CONFLICT (digest) DO UPDATE SET last_touched_at = now() RETURNING digest
           ),
           link AS (
             INSERT INTO repository_blob (repository_id, digest) SELECT claimed.repository_id, b.digest FROM claimed, b
             ON CONFLICT DO NOTHING
           )
           SELECT count(*)::int AS claimed FROM b`,
          [blob.digest, blob.size, upload.id, upload.offset],
        );
        if (!claimed) return false;
      } else {
        await linkBlobIn(q, repository, blob);
      }
      await place();
      return true;
    });
  }

  async mountBlob(from: RepositoryName, to: RepositoryName, digest: Digest): Promise<BlobRecord | null> {
    return this.transaction(async (q) => {
      // NO KEY UPDATE, not SHARE: linkBlobIn below updates this row, and two mounts of one blob holding SHARE
      // locks would each wait for the other to let go before upgrading (a deadlock).
      const rows = await q<{ size: bigint }>(
        `SELECT b.size FROM repository_blob rb
         JOIN repository r ON r.id = rb.repository_id
         JOIN blob b ON b.digest = rb.digest
         WHERE r.name = $1 AND rb.digest = $2
         FOR NO KEY UPDATE OF b`,
        [from, digest],
      );
      if (!rows.length) return null;
      const blob = { digest, size: Number(rows[0].size) };
      await linkBlobIn(q, to, blob);
      return blob;
    });
  }

  async unlinkBlob(repository: RepositoryName, digest: Digest, guard?: (tags: string[]) => void): Promise<boolean> {
    return this.changing(repository, () =>
      this.transaction(async (q) => {
        // FOR UPDATE waits for a push that references the blob (it holds the link FOR SHARE) to finish.
        const [link] = await q<{ repository_id: number }>(
          `SELECT rb.repository_id FROM repository_blob rb JOIN repository r ON r.id = rb.repository_id
           WHERE r.name = $1 AND rb.digest = $2 FOR UPDATE OF rb`,
          [repository, digest],
        );
        if (!link) return false;
        if (guard) {
          // Every tag from which the blob is reachable: on a manifest that references it, or on an index
          // above such a manifest (any depth; UNION stops on cycles).
          const tags = await q<{ name: string }>(
            `WITH RECURSIVE up(id) AS (
               SELECT m.id FROM manifest m JOIN manifest_reference mr ON mr.manifest_id = m.id
                WHERE m.repository_id = $1 AND mr.digest = $2 AND mr.kind = 'blob'
               UNION
               SELECT p.id FROM up JOIN manifest c ON c.id = up.id
                 JOIN manifest_reference mr ON mr.digest = c.digest AND mr.kind = 'manifest'
                 JOIN manifest p ON p.id = mr.manifest_id AND p.repository_id = $1
             )
             SELECT DISTINCT t.name FROM tag t JOIN up ON t.manifest_id = up.id ORDER BY t.name`,
            [link.repository_id, digest],
          );
          guard(tags.map((t) => t.name));
        }
        await q(`DELETE FROM repository_blob WHERE repository_id = $1 AND digest = $2`, [link.repository_id, digest]);
        return true;
      }),
    );
  }

  async createUpload(repository: RepositoryName, id: string): Promise<UploadRecord> {
    const startedAt = await withRepositoryRow(async () => {
      const [row] = await this.run<{ started_at: Date }>(
        `WITH ${REPOSITORY_CTE}
         INSERT INTO upload (id, repository_id) SELECT $2::uuid, repo.id FROM repo
         RETURNING started_at`,
        [repository, id],
      );
      return row?.started_at ?? null;
    });
    return { id, repository, offset: 0, driverState: null, startedAt, updatedAt: startedAt };
  }

  async findUpload(repository: RepositoryName, id: string): Promise<UploadRecord | null> {
    const [row] = await this.run<{ offset: bigint; driver_state: WriterState | null; started_at: Date; updated_at: Date }>(
      `SELECT u."offset", u.driver_state, u.started_at, u.updated_at FROM upload u
       JOIN repository r ON r.id = u.repository_id
       WHERE r.name = $1 AND u.id = $2::uuid`,
      [repository, id],
    );
    if (!row) return null;
    return {
      id,
      repository,
      offset: Number(row.offset),
      driverState: row.driver_state,
      startedAt: row.started_at,
      updatedAt: row.updated_at,
    };
  }

  async advanceUpload(id: string, expectedOffset: number, next: { offset: number; driverState: WriterState }): Promise<boolean> {
    // In the same statement, a project with a quota is asked whether the session would still fit: an upload
    // growing past it is refused as it grows, not only when it is finished (its bytes stay on disk until then).
    const [row] = await this.run<{ advanced: boolean; quota: string | null; used: string | null; project: string | null }>(
      `WITH cap AS (
         SELECT p.name AS project, q.quota_bytes AS quota,
                q.used_bytes + COALESCE((SELECT sum(d.size_bytes) FROM project_usage_delta d WHERE d.project_id = q.project_id), 0) AS used
           FROM upload up JOIN repository r ON r.id = up.repository_id JOIN project p ON p.id = r.project_id
           JOIN project_usage q ON q.project_id = p.id AND q.quota_bytes IS NOT NULL
          WHERE up.id = $3::uuid),
       advanced AS (
         UPDATE upload SET "offset" = $1, driver_state = $2::jsonb, updated_at = now()
          WHERE id = $3::uuid AND "offset" = $4 AND NOT EXISTS (SELECT 1 FROM cap WHERE cap.used + $1 > cap.quota)
          RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM advanced) AS advanced, cap.quota::text AS quota, cap.used::text AS used, cap.project
         FROM (SELECT 1) one LEFT JOIN cap ON true`,
      [next.offset, JSON.stringify(next.driverState), id, expectedOffset],
    );
    if (row.advanced) return true;
    if (row.quota !== null && Number(row.used) + next.offset > Number(row.quota)) {
      throw quotaRefusal({ project: row.project!, quota: Number(row.quota), used: Number(row.used), needed: next.offset });
    }
    return false;
  }

  async deleteUpload(id: string): Promise<boolean> {
    const rows = await this.run(`DELETE FROM upload WHERE id = $1::uuid RETURNING 1`, [id]);
    return rows.length > 0;
  }

  async putManifest(
    repository: RepositoryName,
    manifest: NewManifest,
    tag: TagName | null,
    options: PutManifestOptions = {},
  ): Promise<{ missing: Digest[]; immutableTagHeldBy?: Digest }> {
    return this.changing(repository, () => this.putManifestOnce(repository, manifest, tag, options));
  }

  private async putManifestOnce(
    repository: RepositoryName,
    manifest: NewManifest,
    tag: TagName | null,
    options: PutManifestOptions,
  ): Promise<{ missing: Digest[]; immutableTagHeldBy?: Digest }> {
    // One round trip: the function (migration 20261125090000_repository_figures_delta) locks, checks and
    // writes as the statements of a transaction would, holding the repository row FOR KEY SHARE only, so
    // pushes to one repository go side by side while the collector's sweeps wait (src/gc/collector.ts).
    const kind = (k: string) => manifest.references.filter((r) => r.kind === k).map((r) => r.digest);
    const immutable = options.immutableTag === true;
    try {
      const [row] = await this.db.query<{ missing: string[] | null; held_by: string | null }>(
        `SELECT missing, held_by FROM berth_put_manifest($1, $2, $3, $4, $5, $6, $7::jsonb, $8::text[], $9::text[], $10, $11, $12)`,
        [
          repository,
          manifest.digest,
          manifest.mediaType,
          manifest.content,
          manifest.subject,
          manifest.artifactType,
          manifest.annotations ? JSON.stringify(manifest.annotations) : null,
          kind("blob"),
          kind("manifest"),
          options.verifyReferences !== false,
          tag,
          immutable,
        ],
      );
      if (row.missing) return { missing: row.missing as Digest[] };
      return row.held_by ? { missing: [], immutableTagHeldBy: row.held_by as Digest } : { missing: [] };
    } catch (err) {
      if ((err as { code?: string }).code !== IMMUTABLE_TAG_RACED || !tag) throw storeError(err);
      // Another push created the tag between our check and our write: report what it names now.
      const [held] = await this.run<{ digest: string }>(
        `SELECT m.digest FROM tag t JOIN repository r ON r.id = t.repository_id JOIN manifest m ON m.id = t.manifest_id
         WHERE r.name = $1 AND t.name = $2`,
        [repository, tag],
      );
      return { missing: [], immutableTagHeldBy: held.digest as Digest };
    }
  }

  async findManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | null> {
    const cached = this.cache?.lookup(repository, reference);
    if (cached) return cached;
    const ticket = this.cache?.ticket() ?? -1;
    type Row = { repository_id: number; digest: string; media_type: string; content: Uint8Array; subject_digest: string | null };
    const [row] =
      "tag" in reference
        ? await this.run<Row>(
            `SELECT r.id AS repository_id, m.digest, m.media_type, m.content, m.subject_digest FROM tag t
             JOIN repository r ON r.id = t.repository_id
             JOIN manifest m ON m.id = t.manifest_id
             WHERE r.name = $1 AND t.name = $2`,
            [repository, reference.tag],
          )
        : await this.run<Row>(
            `SELECT r.id AS repository_id, m.digest, m.media_type, m.content, m.subject_digest FROM manifest m
             JOIN repository r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2`,
            [repository, reference.digest],
          );
    if (!row) return null;
    const record = {
      digest: row.digest as Digest,
      mediaType: row.media_type,
      content: Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength),
      subject: row.subject_digest as Digest | null,
    };
    this.cache?.fill(ticket, repository, row.repository_id, reference, record);
    return record;
  }

  async deleteTag(repository: RepositoryName, tag: TagName): Promise<boolean> {
    const rows = await this.changing(repository, () =>
      this.run(`DELETE FROM tag t USING repository r WHERE r.id = t.repository_id AND r.name = $1 AND t.name = $2 RETURNING 1`, [
        repository,
        tag,
      ]),
    );
    return rows.length > 0;
  }

  async deleteManifest(repository: RepositoryName, digest: Digest, guard?: (tags: string[]) => void): Promise<boolean> {
    return this.changing(repository, () => this.deleteManifestOnce(repository, digest, guard));
  }

  private async deleteManifestOnce(repository: RepositoryName, digest: Digest, guard?: (tags: string[]) => void): Promise<boolean> {
    // Tags and references go with it through ON DELETE CASCADE.
    return this.transaction(async (q) => {
      // FOR UPDATE keeps new tags off the manifest (their foreign key check would need a share lock) and
      // waits for an index push naming it as a child (which holds it FOR SHARE) until we are done, so the
      // checks below judge the final tags and parents.
      const [row] = await q<{ id: number; repository_id: number }>(
        `SELECT m.id, m.repository_id FROM manifest m JOIN repository r ON r.id = m.repository_id
         WHERE r.name = $1 AND m.digest = $2 FOR UPDATE OF m`,
        [repository, digest],
      );
      if (!row) return false;
      // An index in the repository still lists it: deleting it would leave the index's tag pointing at an
      // image that answers 404. A referrer's subject is not such a reference (kind 'manifest' is a child).
      const [parent] = await q<{ digest: string }>(
        `SELECT p.digest FROM manifest_reference mr JOIN manifest p ON p.id = mr.manifest_id
         WHERE p.repository_id = $1 AND mr.digest = $2 AND mr.kind = 'manifest' AND p.id <> $3 ORDER BY p.id LIMIT 1`,
        [row.repository_id, digest, row.id],
      );
      if (parent) {
        throw new DomainError("ManifestReferenced", { digest, index: parent.digest }, { summary: `manifest ${digest} is listed by index ${parent.digest}; delete the index first` });
      }
      if (guard) {
        const tags = await q<{ name: string }>(`SELECT name FROM tag WHERE manifest_id = $1 ORDER BY name`, [row.id]);
        guard(tags.map((t) => t.name));
      }
      await q(`DELETE FROM manifest WHERE id = $1`, [row.id]);
      return true;
    });
  }

  async listTags(repository: RepositoryName, page: PageRequest): Promise<string[] | null> {
    // Like the catalog, a repository exists once it holds a manifest; blobs or uploads alone do not make one.
    const [repo] = await this.run<{ id: number }>(
      `SELECT r.id FROM repository r WHERE r.name = $1 AND EXISTS (SELECT 1 FROM manifest m WHERE m.repository_id = r.id)`,
      [repository],
    );
    if (!repo) return null;
    const rows = await this.run<{ name: string }>(
      `SELECT name FROM tag WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3`,
      [repo.id, page.last ?? "", page.limit],
    );
    return rows.map((r) => r.name);
  }

  async listRepositories(page: PageRequest): Promise<string[]> {
    const rows = await this.run<{ name: string }>(
      `SELECT name FROM repository r
       WHERE name > $1 AND EXISTS (SELECT 1 FROM manifest m WHERE m.repository_id = r.id)
       ORDER BY name LIMIT $2`,
      [page.last ?? "", page.limit],
    );
    return rows.map((r) => r.name);
  }

  async listReferrers(repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]> {
    const rows = await this.run<{
      digest: string;
      media_type: string;
      size: number;
      artifact_type: string | null;
      annotations: Record<string, string> | null;
    }>(
      `SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifest m
       JOIN repository r ON r.id = m.repository_id
       WHERE r.name = $1 AND m.subject_digest = $2
       ORDER BY m.id`,
      [repository, subject],
    );
    return rows.map((r) => ({
      digest: r.digest as Digest,
      mediaType: r.media_type,
      size: Number(r.size),
      artifactType: r.artifact_type,
      annotations: r.annotations,
    }));
  }
}
