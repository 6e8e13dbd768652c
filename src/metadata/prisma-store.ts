import type { PrismaClient } from "../generated/prisma/client";
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

type Tx = Omit<PrismaClient, "$connect" | "$disconnect" | "$on" | "$transaction" | "$extends">;

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

/** Publishing holds a transaction open while the bytes are moved into place; allow for slow storage. */
const PUBLISH_TIMEOUT_MS = 10 * 60_000;

/**
 * MetadataStore on Prisma. Hot paths use single raw statements (one round trip, no ORM result mapping);
 * the rest uses the generated client where it reads better.
 *
 * Row lock order, kept by every transaction here and by the garbage collector so that none can deadlock:
 * a blob row before a repository row; a repository row before that repository's tag, manifest and
 * repository_blob rows. (See src/gc/collector.ts for why the collector depends on these locks.)
 */
export class PrismaMetadataStore implements MetadataStore {
  constructor(
    private readonly prisma: PrismaClient,
    /**
     * Raw parameterised SQL straight to the driver (Database.query). The hottest reads — HEAD/GET blob and
     * GET manifest — use it when given: profiles showed the ORM's raw-query path costing more CPU than the
     * database round trip itself.
     */
    private readonly query?: <R>(sql: string, params: readonly unknown[]) => Promise<R[]>,
  ) {}

  private async read<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
    try {
      return await (this.query ? this.query<R>(sql, params) : this.prisma.$queryRawUnsafe<R[]>(sql, ...params));
    } catch (err) {
      // The raw driver's failures (refused connections included) are named as database failures, like the ORM's.
      throw new RawDatabaseError(err);
    }
  }

  async findLinkedBlob(repository: RepositoryName, digest: Digest, options: { touchIfIdleMs?: number } = {}): Promise<BlobRecord | null> {
    // The idle check rides along in the same round trip; the write only happens when it is due.
    const idleSeconds = options.touchIfIdleMs === undefined ? null : options.touchIfIdleMs / 1000;
    const rows = await this.read<{ size: bigint; idle: boolean | null }>(
      `SELECT b.size, b.last_touched_at < now() - make_interval(secs => $3::float8) AS idle
       FROM repository_blob rb
       JOIN repository r ON r.id = rb.repository_id
       JOIN blob b ON b.digest = rb.digest
       WHERE r.name = $1 AND rb.digest = $2`,
      [repository, digest, idleSeconds],
    );
    if (!rows.length) return null;
    if (rows[0].idle === true) {
      await this.prisma.$executeRaw`
        UPDATE blob SET last_touched_at = now()
        WHERE digest = ${digest} AND last_touched_at < now() - make_interval(secs => ${idleSeconds}::float8)`;
    }
    return { digest, size: Number(rows[0].size) };
  }

  async linkBlob(repository: RepositoryName, blob: BlobRecord): Promise<void> {
    // One statement: data-modifying CTEs run together and foreign keys are checked at its end.
    await this.prisma.$executeRaw`
      WITH repo AS (
        INSERT INTO repository (name) VALUES (${repository})
        ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING id
      ), b AS (
        INSERT INTO blob (digest, size) VALUES (${blob.digest}, ${blob.size})
        ON CONFLICT (digest) DO UPDATE SET last_touched_at = now() RETURNING digest
      )
      INSERT INTO repository_blob (repository_id, digest)
      SELECT repo.id, b.digest FROM repo, b
      ON CONFLICT DO NOTHING`;
  }

  async publishBlob(repository: RepositoryName, blob: BlobRecord, place: () => Promise<void>): Promise<void> {
    await this.prisma.$transaction(
      async (tx) => {
        // Creating or touching the row locks it until commit: a collector deleting this blob holds the same
        // lock while it deletes the bytes, so the bytes we place cannot be deleted behind our back.
        await tx.$executeRaw`
          INSERT INTO blob (digest, size) VALUES (${blob.digest}, ${blob.size})
          ON CONFLICT (digest) DO UPDATE SET last_touched_at = now()`;
        await place();
        await new PrismaMetadataStore(tx as PrismaClient).linkBlob(repository, blob);
      },
      { timeout: PUBLISH_TIMEOUT_MS },
    );
  }

  async mountBlob(from: RepositoryName, to: RepositoryName, digest: Digest): Promise<BlobRecord | null> {
    return this.prisma.$transaction(async (tx) => {
      // NO KEY UPDATE, not SHARE: linkBlob below updates this row, and two mounts of one blob holding SHARE
      // locks would each wait for the other to let go before upgrading (a deadlock).
      const rows = await tx.$queryRaw<Array<{ size: bigint }>>`
        SELECT b.size FROM repository_blob rb
        JOIN repository r ON r.id = rb.repository_id
        JOIN blob b ON b.digest = rb.digest
        WHERE r.name = ${from} AND rb.digest = ${digest}
        FOR NO KEY UPDATE OF b`;
      if (!rows.length) return null;
      const blob = { digest, size: Number(rows[0].size) };
      await new PrismaMetadataStore(tx as PrismaClient).linkBlob(to, blob);
      return blob;
    });
  }

  async unlinkBlob(repository: RepositoryName, digest: Digest): Promise<boolean> {
    const count = await this.prisma.$executeRaw`
      DELETE FROM repository_blob rb USING repository r
      WHERE r.id = rb.repository_id AND r.name = ${repository} AND rb.digest = ${digest}`;
    return count > 0;
  }

  async createUpload(repository: RepositoryName, id: string): Promise<UploadRecord> {
    const rows = await this.prisma.$queryRaw<Array<{ started_at: Date }>>`
      WITH repo AS (
        INSERT INTO repository (name) VALUES (${repository})
        ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING id
      )
      INSERT INTO upload (id, repository_id) SELECT ${id}::uuid, repo.id FROM repo
      RETURNING started_at`;
    const startedAt = rows[0].started_at;
    return { id, repository, offset: 0, driverState: null, startedAt, updatedAt: startedAt };
  }

  async findUpload(repository: RepositoryName, id: string): Promise<UploadRecord | null> {
    const rows = await this.prisma.$queryRaw<
      Array<{ offset: bigint; driver_state: WriterState | null; started_at: Date; updated_at: Date }>
    >`
      SELECT u."offset", u.driver_state, u.started_at, u.updated_at FROM upload u
      JOIN repository r ON r.id = u.repository_id
      WHERE r.name = ${repository} AND u.id = ${id}::uuid`;
    if (!rows.length) return null;
    const row = rows[0];
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
    const count = await this.prisma.$executeRaw`
      UPDATE upload SET "offset" = ${next.offset}, driver_state = ${JSON.stringify(next.driverState)}::jsonb, updated_at = now()
      WHERE id = ${id}::uuid AND "offset" = ${expectedOffset}`;
    return count > 0;
  }

  async deleteUpload(id: string): Promise<boolean> {
    const count = await this.prisma.$executeRaw`DELETE FROM upload WHERE id = ${id}::uuid`;
    return count > 0;
  }

  async putManifest(
    repository: RepositoryName,
    manifest: NewManifest,
    tag: TagName | null,
    options: PutManifestOptions = {},
  ): Promise<{ missing: Digest[]; immutableTagHeldBy?: Digest }> {
    try {
      await this.prisma.$transaction((tx) => this.putManifestIn(tx, repository, manifest, tag, options));
      return { missing: [] };
    } catch (err) {
      if (err instanceof MissingReferences) return { missing: err.missing };
      if (err instanceof ImmutableTagHeld) return { missing: [], immutableTagHeldBy: err.digest };
      throw err;
    }
  }

  private async putManifestIn(
    tx: Tx,
    repository: RepositoryName,
    manifest: NewManifest,
    tag: TagName | null,
    options: PutManifestOptions,
  ): Promise<void> {
    // The upsert locks the repository row until commit: manifest pushes to one repository (and the garbage
    // collector's sweeps of it) take turns.
    const [{ id: repositoryId }] = await tx.$queryRaw<Array<{ id: number }>>`
      INSERT INTO repository (name) VALUES (${repository})
      ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING id`;

    if (tag && options.immutableTag) {
      const held = await tx.$queryRaw<Array<{ digest: string }>>`
        SELECT m.digest FROM tag t JOIN manifest m ON m.id = t.manifest_id
        WHERE t.repository_id = ${repositoryId} AND t.name = ${tag}`;
      if (held.length && held[0].digest !== manifest.digest) throw new ImmutableTagHeld(held[0].digest as Digest);
    }

    // FOR SHARE holds what we reference until commit, so a concurrent delete (or GC) waits for us or wins first.
    const blobs = manifest.references.filter((r) => r.kind === "blob").map((r) => r.digest);
    const children = manifest.references.filter((r) => r.kind === "manifest").map((r) => r.digest);
    const found = new Set<string>();
    if (blobs.length) {
      const rows = await tx.$queryRaw<Array<{ digest: string }>>`
        SELECT digest FROM repository_blob WHERE repository_id = ${repositoryId} AND digest = ANY(${blobs}) FOR SHARE`;
      rows.forEach((r) => found.add(r.digest));
    }
    if (children.length) {
      const rows = await tx.$queryRaw<Array<{ digest: string }>>`
        SELECT digest FROM manifest WHERE repository_id = ${repositoryId} AND digest = ANY(${children}) FOR SHARE`;
      rows.forEach((r) => found.add(r.digest));
    }
    const missing = manifest.references.map((r) => r.digest).filter((d) => !found.has(d));
    if (missing.length && options.verifyReferences !== false) throw new MissingReferences([...new Set(missing)]);

    const inserted = await tx.$queryRaw<Array<{ id: number }>>`
      INSERT INTO manifest (repository_id, digest, media_type, content, size, subject_digest, artifact_type, annotations)
      VALUES (${repositoryId}, ${manifest.digest}, ${manifest.mediaType}, ${manifest.content}, ${manifest.content.length},
              ${manifest.subject}, ${manifest.artifactType},
              ${manifest.annotations ? JSON.stringify(manifest.annotations) : null}::jsonb)
      ON CONFLICT (repository_id, digest) DO NOTHING
      RETURNING id`;
    let manifestId: number;
    if (inserted.length) {
      manifestId = inserted[0].id;
      const references = uniqueBy(manifest.references, (r) => r.digest);
      if (references.length) {
        await tx.manifestReference.createMany({
          data: references.map((r) => ({ manifestId, digest: r.digest, kind: r.kind })),
        });
      }
    } else {
      const [existing] = await tx.$queryRaw<Array<{ id: number }>>`
        SELECT id FROM manifest WHERE repository_id = ${repositoryId} AND digest = ${manifest.digest}`;
      manifestId = existing.id;
    }
    if (tag) {
      await tx.$executeRaw`
        INSERT INTO tag (repository_id, name, manifest_id) VALUES (${repositoryId}, ${tag}, ${manifestId})
        ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = EXCLUDED.manifest_id, updated_at = now()`;
    }
  }

  async findManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | null> {
    type Row = { digest: string; media_type: string; content: Uint8Array; subject_digest: string | null };
    const rows =
      "tag" in reference
        ? await this.read<Row>(
            `SELECT m.digest, m.media_type, m.content, m.subject_digest FROM tag t
             JOIN repository r ON r.id = t.repository_id
             JOIN manifest m ON m.id = t.manifest_id
             WHERE r.name = $1 AND t.name = $2`,
            [repository, reference.tag],
          )
        : await this.read<Row>(
            `SELECT m.digest, m.media_type, m.content, m.subject_digest FROM manifest m
             JOIN repository r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2`,
            [repository, reference.digest],
          );
    if (!rows.length) return null;
    const row = rows[0];
    return {
      digest: row.digest as Digest,
      mediaType: row.media_type,
      content: Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength),
      subject: row.subject_digest as Digest | null,
    };
  }

  async deleteTag(repository: RepositoryName, tag: TagName): Promise<boolean> {
    const count = await this.prisma.$executeRaw`
      DELETE FROM tag t USING repository r WHERE r.id = t.repository_id AND r.name = ${repository} AND t.name = ${tag}`;
    return count > 0;
  }

  async deleteManifest(repository: RepositoryName, digest: Digest, guard?: (tags: string[]) => void): Promise<boolean> {
    // Tags and references go with it through ON DELETE CASCADE.
    if (!guard) {
      const count = await this.prisma.$executeRaw`
        DELETE FROM manifest m USING repository r WHERE r.id = m.repository_id AND r.name = ${repository} AND m.digest = ${digest}`;
      return count > 0;
    }
    return this.prisma.$transaction(async (tx) => {
      // FOR UPDATE keeps new tags off the manifest (their foreign key check would need a share lock) until
      // we are done, so the guard judges the final set of tags.
      const rows = await tx.$queryRaw<Array<{ id: number }>>`
        SELECT m.id FROM manifest m JOIN repository r ON r.id = m.repository_id
        WHERE r.name = ${repository} AND m.digest = ${digest} FOR UPDATE OF m`;
      if (!rows.length) return false;
      const tags = await tx.$queryRaw<Array<{ name: string }>>`SELECT name FROM tag WHERE manifest_id = ${rows[0].id} ORDER BY name`;
      guard(tags.map((t) => t.name));
      await tx.$executeRaw`DELETE FROM manifest WHERE id = ${rows[0].id}`;
      return true;
    });
  }

  async listTags(repository: RepositoryName, page: PageRequest): Promise<string[] | null> {
    // Like the catalog, a repository exists once it holds a manifest; blobs or uploads alone do not make one.
    const [repo] = await this.prisma.$queryRaw<Array<{ id: number }>>`
      SELECT r.id FROM repository r WHERE r.name = ${repository} AND EXISTS (SELECT 1 FROM manifest m WHERE m.repository_id = r.id)`;
    if (!repo) return null;
    const rows = await this.prisma.$queryRaw<Array<{ name: string }>>`
      SELECT name FROM tag WHERE repository_id = ${repo.id} AND name > ${page.last ?? ""}
      ORDER BY name LIMIT ${page.limit}`;
    return rows.map((r) => r.name);
  }

  async listRepositories(page: PageRequest): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<Array<{ name: string }>>`
      SELECT name FROM repository r
      WHERE name > ${page.last ?? ""} AND EXISTS (SELECT 1 FROM manifest m WHERE m.repository_id = r.id)
      ORDER BY name LIMIT ${page.limit}`;
    return rows.map((r) => r.name);
  }

  async listReferrers(repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]> {
    const rows = await this.prisma.$queryRaw<
      Array<{ digest: string; media_type: string; size: number; artifact_type: string | null; annotations: Record<string, string> | null }>
    >`
      SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifest m
      JOIN repository r ON r.id = m.repository_id
      WHERE r.name = ${repository} AND m.subject_digest = ${subject}
      ORDER BY m.id`;
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
