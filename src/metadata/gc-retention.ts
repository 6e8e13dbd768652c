// The database side of retention (src/gc/retention.ts): repositories and their tags to judge, and the
// compare-and-delete of the tags the rules doom.
import { addToRun, logDeleted } from "./gc-runs";
import type { GcDatabase } from "./gc-sql";

export interface TaggedManifest {
  repositoryId: number;
  name: string;
  manifestId: number;
  updatedAt: Date;
  digest: string;
}

/** A tag to delete only if it still names `manifestId`, pushed at `updatedAt`. */
export interface TagDeletion {
  repositoryId: number;
  tag: string;
  manifestId: number;
  updatedAt: Date;
}

/** Repositories by name; `project` limits them to one project. */
export function repositoriesOf(db: GcDatabase, project?: string): Promise<Array<{ id: number; name: string }>> {
  return db.query<{ id: number; name: string }>(
    `SELECT r.id, r.name FROM repository r
      WHERE $1::text IS NULL OR r.project_id = (SELECT p.id FROM project p WHERE p.name = $1) ORDER BY r.name`,
    [project ?? null],
  );
}

/** Every tag of these repositories, with its manifest's id and digest. */
export async function tagsOf(db: GcDatabase, repositoryIds: number[]): Promise<TaggedManifest[]> {
  const rows = await db.query<{ repository_id: number; name: string; manifest_id: number; updated_at: Date; digest: string }>(
    `SELECT t.repository_id, t.name, t.manifest_id, t.updated_at, m.digest
     FROM tag t JOIN manifest m ON m.id = t.manifest_id WHERE t.repository_id = ANY($1::int[])`,
    [repositoryIds],
  );
  return rows.map((r) => ({ repositoryId: r.repository_id, name: r.name, manifestId: r.manifest_id, updatedAt: r.updated_at, digest: r.digest }));
}

/**
 * Deletes the batch's tags in one statement, each only if unchanged; returns those deleted. With `runId`,
 * they are added to that run's counters in the same transaction.
 */
export function deleteTagsIfUnchanged<T extends TagDeletion>(db: GcDatabase, batch: T[], runId?: number): Promise<T[]> {
  return db.transaction(async (q) => {
    const rows = await q<{ repository_id: number; name: string; digest: string }>(
      `DELETE FROM tag t
       USING unnest($1::int[], $2::text[], $3::int[], $4::timestamptz[]) AS x(repository_id, name, manifest_id, updated_at)
       WHERE t.repository_id = x.repository_id AND t.name = x.name AND t.manifest_id = x.manifest_id
         AND t.updated_at = x.updated_at
       RETURNING t.repository_id, t.name, (SELECT m.digest FROM manifest m WHERE m.id = t.manifest_id) AS digest`,
      [
        batch.map((d) => d.repositoryId),
        batch.map((d) => d.tag),
        batch.map((d) => d.manifestId),
        batch.map((d) => d.updatedAt.toISOString()),
      ],
    );
    const deleted = new Set(rows.map((r) => `${r.repository_id}\u0000${r.name}`));
    const carried = batch.filter((d) => deleted.has(`${d.repositoryId}\u0000${d.tag}`));
    if (runId !== undefined) {
      await addToRun(q, runId, { tags: carried.length });
      await logDeleted(q, runId, rows.map((r) => ({ kind: "tag", repositoryId: r.repository_id, tag: r.name, digest: r.digest })));
    }
    return carried;
  });
}
