import type { Database, Query } from "./database";
import type { Digest } from "../registry/digest";
import type { RepositoryName, TagName } from "../oci/names";
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

/** Thrown inside a transaction to roll it back when a manifest names content the repository lacks. */
class MissingReferences extends Error {
  constructor(readonly missing: Digest[]) {
    super("manifest references missing content");
  }
}

/** Thrown inside a transaction to roll it back when an immutable tag already names another manifest. */
class ImmutableTagHeld extends Error {
  constructor(readonly digest: Digest) {
    super("immutable tag already names another manifest");
  }
}

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
 * The manifest PUT, inside one transaction. The repository row is taken FOR KEY SHARE only: pushes to one
 * repository proceed side by side, while the garbage collector, which sweeps a repository holding its
 * row FOR UPDATE, waits for them (and they for it). See src/gc/collector.ts.
 */
async function putManifestIn(
  q: Query,
  repository: RepositoryName,
  manifest: NewManifest,
  tag: TagName | null,
  options: PutManifestOptions,
): Promise<void> {
  const repositoryId = await withRepositoryRow(async () => {
    const [row] = await q<{ id: number }>(`SELECT id FROM repository WHERE name = $1 FOR KEY SHARE`, [repository]);
    if (row) return row.id;
    // A row this transaction creates is locked by it anyway.
    const [created] = await q<{ id: number }>(
      `INSERT INTO repository (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id`,
      [repository],
    );
    return created?.id ?? null;
  });

  // FOR SHARE holds what we reference until commit, so a concurrent delete (or GC) waits for us or wins first.
  const blobs = manifest.references.filter((r) => r.kind === "blob").map((r) => r.digest);
  const children = manifest.references.filter((r) => r.kind === "manifest").map((r) => r.digest);
  const found = new Set<string>();
  if (blobs.length) {
    const rows = await q<{ digest: string }>(
      `SELECT digest FROM repository_blob WHERE repository_id = $1 AND digest = ANY($2::text[]) FOR SHARE`,
      [repositoryId, blobs],
    );
    rows.forEach((r) => found.add(r.digest));
  }
  if (children.length) {
    const rows = await q<{ digest: string }>(
      `SELECT digest FROM manifest WHERE repository_id = $1 AND digest = ANY($2::text[]) FOR SHARE`,
      [repositoryId, children],
    );
    rows.forEach((r) => found.add(r.digest));
  }
  const missing = manifest.references.map((r) => r.digest).filter((d) => !found.has(d));
  if (missing.length && options.verifyReferences !== false) throw new MissingReferences([...new Set(missing)]);

  // The manifest (with its references, when new) and the tag in one statement. An immutable tag is
  // moved only onto the manifest it already names: the unique key makes racing creators take turns, and
  // the loser's DO UPDATE finds the winner's row and, its WHERE false, leaves it alone.
  const references = uniqueBy(manifest.references, (r) => r.digest);
  const stored = await withRepositoryRow(async () => {
    const [row] = await q<{ id: number | null; tagged: number }>(
      `WITH ins AS (
         INSERT INTO manifest (repository_id, digest, media_type, content, size, subject_digest, artifact_type, annotations)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
         ON CONFLICT (repository_id, digest) DO NOTHING
         RETURNING id
       ),
       refs AS (
         INSERT INTO manifest_reference (manifest_id, digest, kind)
         SELECT ins.id, r.digest, r.kind FROM ins, unnest($9::text[], $10::text[]) AS r(digest, kind)
       ),
       m AS (SELECT id FROM ins UNION ALL SELECT id FROM manifest WHERE repository_id = $1 AND digest = $2),
       t AS (
         INSERT INTO tag (repository_id, name, manifest_id)
         SELECT $1, $11::text, id FROM m WHERE $11::text IS NOT NULL LIMIT 1
         ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = EXCLUDED.manifest_id, updated_at = now()
           WHERE NOT $12::boolean OR tag.manifest_id = EXCLUDED.manifest_id
         RETURNING 1
       )
       SELECT (SELECT id FROM m LIMIT 1) AS id, (SELECT count(*)::int FROM t) AS tagged`,
      [
        repositoryId,
        manifest.digest,
        manifest.mediaType,
        manifest.content,
        manifest.content.length,
        manifest.subject,
        manifest.artifactType,
        manifest.annotations ? JSON.stringify(manifest.annotations) : null,
        references.map((r) => r.digest),
        references.map((r) => r.kind),
        tag,
        options.immutableTag === true,
      ],
    );
    // No id: the same manifest was committed by another push after this statement's snapshot was taken.
    return row.id === null ? null : row;
  });
  if (tag && stored.tagged === 0) {
    const [held] = await q<{ digest: string }>(
      `SELECT m.digest FROM tag t JOIN manifest m ON m.id = t.manifest_id WHERE t.repository_id = $1 AND t.name = $2`,
      [repositoryId, tag],
    );
    throw new ImmutableTagHeld(held.digest as Digest);
  }
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
  constructor(private readonly db: Pick<Database, "query" | "transaction">) {}

  private async run<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
    try {
      return await this.db.query<R>(sql, params);
    } catch (err) {
      // The driver's failures (refused connections included) are named as database failures, like the ORM's.
      throw new RawDatabaseError(err);
    }
  }

  private async transaction<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    let thrownByFn = false;
    try {
      return await this.db.transaction((tx) => {
        const q: Query = <R>(sql: string, params?: readonly unknown[]) =>
          tx<R>(sql, params).catch((err: unknown) => Promise.reject(new RawDatabaseError(err)));
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
    // The idle check rides along in the same round trip; the write only happens when it is due.
    const idleSeconds = options.touchIfIdleMs === undefined ? null : options.touchIfIdleMs / 1000;
    const rows = await this.run<{ size: bigint; idle: boolean | null }>(
      `SELECT b.size, b.last_touched_at < now() - make_interval(secs => $3::float8) AS idle
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
    return { digest, size: Number(rows[0].size) };
  }

  async linkBlob(repository: RepositoryName, blob: BlobRecord): Promise<void> {
    await linkBlobIn((sql, params) => this.run(sql, params ?? []), repository, blob);
  }

  async publishBlob(repository: RepositoryName, blob: BlobRecord, place: () => Promise<void>): Promise<void> {
    await this.transaction(async (q) => {
      // Creating or touching the row locks it until commit: a collector deleting this blob holds the same
      // lock while it deletes the bytes, so the bytes we place cannot be deleted behind our back.
      await q(`INSERT INTO blob (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE SET last_touched_at = now()`, [
        blob.digest,
        blob.size,
      ]);
      await place();
      await linkBlobIn(q, repository, blob);
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

  async unlinkBlob(repository: RepositoryName, digest: Digest): Promise<boolean> {
    const rows = await this.run(
      `DELETE FROM repository_blob rb USING repository r
       WHERE r.id = rb.repository_id AND r.name = $1 AND rb.digest = $2 RETURNING 1`,
      [repository, digest],
    );
    return rows.length > 0;
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
    const rows = await this.run(
      `UPDATE upload SET "offset" = $1, driver_state = $2::jsonb, updated_at = now()
       WHERE id = $3::uuid AND "offset" = $4 RETURNING 1`,
      [next.offset, JSON.stringify(next.driverState), id, expectedOffset],
    );
    return rows.length > 0;
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
    try {
      await this.transaction((q) => putManifestIn(q, repository, manifest, tag, options));
      return { missing: [] };
    } catch (err) {
      if (err instanceof MissingReferences) return { missing: err.missing };
      if (err instanceof ImmutableTagHeld) return { missing: [], immutableTagHeldBy: err.digest };
      throw err;
    }
  }

  async findManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | null> {
    type Row = { digest: string; media_type: string; content: Uint8Array; subject_digest: string | null };
    const [row] =
      "tag" in reference
        ? await this.run<Row>(
            `SELECT m.digest, m.media_type, m.content, m.subject_digest FROM tag t
             JOIN repository r ON r.id = t.repository_id
             JOIN manifest m ON m.id = t.manifest_id
             WHERE r.name = $1 AND t.name = $2`,
            [repository, reference.tag],
          )
        : await this.run<Row>(
            `SELECT m.digest, m.media_type, m.content, m.subject_digest FROM manifest m
             JOIN repository r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2`,
            [repository, reference.digest],
          );
    if (!row) return null;
    return {
      digest: row.digest as Digest,
      mediaType: row.media_type,
      content: Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength),
      subject: row.subject_digest as Digest | null,
    };
  }

  async deleteTag(repository: RepositoryName, tag: TagName): Promise<boolean> {
    const rows = await this.run(
      `DELETE FROM tag t USING repository r WHERE r.id = t.repository_id AND r.name = $1 AND t.name = $2 RETURNING 1`,
      [repository, tag],
    );
    return rows.length > 0;
  }

  async deleteManifest(repository: RepositoryName, digest: Digest, guard?: (tags: string[]) => void): Promise<boolean> {
    // Tags and references go with it through ON DELETE CASCADE.
    if (!guard) {
      const rows = await this.run(
        `DELETE FROM manifest m USING repository r
         WHERE r.id = m.repository_id AND r.name = $1 AND m.digest = $2 RETURNING 1`,
        [repository, digest],
      );
      return rows.length > 0;
    }
    return this.transaction(async (q) => {
      // FOR UPDATE keeps new tags off the manifest (their foreign key check would need a share lock) until
      // we are done, so the guard judges the final set of tags.
      const [row] = await q<{ id: number }>(
        `SELECT m.id FROM manifest m JOIN repository r ON r.id = m.repository_id
         WHERE r.name = $1 AND m.digest = $2 FOR UPDATE OF m`,
        [repository, digest],
      );
      if (!row) return false;
      const tags = await q<{ name: string }>(`SELECT name FROM tag WHERE manifest_id = $1 ORDER BY name`, [row.id]);
      guard(tags.map((t) => t.name));
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

function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(key(item)) && (seen.add(key(item)), true));
}
