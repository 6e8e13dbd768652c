// Retention: which tags the per-project rules delete, and deleting them. Runs before the mark phase, so
// the manifests those tags held become dangling and the same collection removes them (after the grace
// period, counted from each manifest's push).
import { tagsToDeleteByAll, type ImmutableTags, type RetentionRules } from "./rules";
import type { BatchHooks, GcDatabase } from "../metadata/gc-sql";

export interface RetentionDecision {
  repositoryId: number;
  repository: string;
  tag: string;
  manifestId: number;
  digest: string;
  /** The tag's push time as read; the delete only happens if the tag has not moved since. */
  updatedAt: Date;
}

/** Repositories whose tags are fetched per query. */
const REPOSITORY_CHUNK = 500;

/** The tags the rules delete as of `now` (the database's clock), per repository; `project` limits it to one. */
export async function planRetention(
  db: GcDatabase,
  rules: RetentionRules,
  immutable: ImmutableTags,
  now: Date,
  project?: string,
): Promise<RetentionDecision[]> {
  if (rules.empty) return [];
  const repositories = (
    await db.query<{ id: number; name: string }>(
      `SELECT id, name FROM repository WHERE $1::text IS NULL OR split_part(name, '/', 1) = $1 ORDER BY name`,
      [project ?? null],
    )
  )
    .map((r) => ({ ...r, rules: rules.rulesFor(r.name) }))
    .filter((r) => r.rules.length > 0);
  const decisions: RetentionDecision[] = [];
  for (let i = 0; i < repositories.length; i += REPOSITORY_CHUNK) {
    const chunk = repositories.slice(i, i + REPOSITORY_CHUNK);
    const rows = await db.query<{ repository_id: number; name: string; manifest_id: number; updated_at: Date; digest: string }>(
      `SELECT t.repository_id, t.name, t.manifest_id, t.updated_at, m.digest
       FROM tag t JOIN manifest m ON m.id = t.manifest_id WHERE t.repository_id = ANY($1::int[])`,
      [chunk.map((r) => r.id)],
    );
    const byRepository = new Map<number, typeof rows>();
    for (const row of rows) {
      const list = byRepository.get(row.repository_id) ?? [];
      list.push(row);
      byRepository.set(row.repository_id, list);
    }
    for (const repository of chunk) {
      const tags = byRepository.get(repository.id) ?? [];
      const doomed = tagsToDeleteByAll(
        repository.rules,
        tags.map((t) => ({ name: t.name, updatedAt: t.updated_at })),
        now,
        (tag) => immutable.ruleFor(repository.name, tag) !== null,
      );
      const byName = new Map(tags.map((t) => [t.name, t]));
      for (const d of doomed) {
        const row = byName.get(d.name)!;
        decisions.push({
          repositoryId: repository.id,
          repository: repository.name,
          tag: row.name,
          manifestId: row.manifest_id,
          digest: row.digest,
          updatedAt: row.updated_at,
        });
      }
    }
  }
  return decisions;
}

/**
 * Deletes the decided tags, `batchSize` per statement, each only if it still names the same manifest with
 * the same push time (compare-and-delete): a tag re-pushed since the decision is a new fact and stays.
 * Returns the decisions actually carried out.
 */
export async function applyRetention(
  db: GcDatabase,
  decisions: RetentionDecision[],
  batchSize: number,
  hooks: BatchHooks<RetentionDecision> = {},
): Promise<RetentionDecision[]> {
  const done: RetentionDecision[] = [];
  for (let i = 0; i < decisions.length; i += batchSize) {
    const batch = decisions.slice(i, i + batchSize);
    const carried = await db.transaction(async (q) => {
      const rows = await q<{ repository_id: number; name: string }>(
        `DELETE FROM tag t
         USING unnest($1::int[], $2::text[], $3::int[], $4::timestamptz[]) AS x(repository_id, name, manifest_id, updated_at)
         WHERE t.repository_id = x.repository_id AND t.name = x.name AND t.manifest_id = x.manifest_id
           AND t.updated_at = x.updated_at
         RETURNING t.repository_id, t.name`,
        [
          batch.map((d) => d.repositoryId),
          batch.map((d) => d.tag),
          batch.map((d) => d.manifestId),
          batch.map((d) => d.updatedAt.toISOString()),
        ],
      );
      const deleted = new Set(rows.map((r) => `${r.repository_id}\u0000${r.name}`));
      const carried = batch.filter((d) => deleted.has(`${d.repositoryId}\u0000${d.tag}`));
      await hooks.inBatch?.(q, carried);
      return carried;
    });
    done.push(...carried);
    await hooks.afterBatch?.(carried);
  }
  return done;
}
