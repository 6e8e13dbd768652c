// Retention: which tags the per-project rules delete, and deleting them. Runs before the mark phase, so
// the manifests those tags held become dangling and the same collection removes them (after the grace
// period, counted from each manifest's push).
import type { GcStore } from "../metadata/gc-store";
import { tagsToDeleteByAll, type ImmutableTags, type RetentionRules } from "./rules";

/** For batched deletions: the run whose counters each batch adds to (in its transaction), and a call after each commit. */
export interface BatchHooks<T> {
  runId?: number;
  afterBatch?: (done: T[]) => Promise<void>;
}

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
  store: GcStore,
  rules: RetentionRules,
  immutable: ImmutableTags,
  now: Date,
  project?: string,
): Promise<RetentionDecision[]> {
  if (rules.empty) return [];
  const repositories = (await store.repositoriesOf(project))
    .map((r) => ({ ...r, rules: rules.rulesFor(r.name) }))
    .filter((r) => r.rules.length > 0);
  const decisions: RetentionDecision[] = [];
  for (let i = 0; i < repositories.length; i += REPOSITORY_CHUNK) {
    const chunk = repositories.slice(i, i + REPOSITORY_CHUNK);
    const rows = await store.tagsOf(chunk.map((r) => r.id));
    const byRepository = new Map<number, typeof rows>();
    for (const row of rows) {
      const list = byRepository.get(row.repositoryId) ?? [];
      list.push(row);
      byRepository.set(row.repositoryId, list);
    }
    for (const repository of chunk) {
      const tags = byRepository.get(repository.id) ?? [];
      const doomed = tagsToDeleteByAll(
        repository.rules,
        tags.map((t) => ({ name: t.name, updatedAt: t.updatedAt })),
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
          manifestId: row.manifestId,
          digest: row.digest,
          updatedAt: row.updatedAt,
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
  store: GcStore,
  decisions: RetentionDecision[],
  batchSize: number,
  hooks: BatchHooks<RetentionDecision> = {},
): Promise<RetentionDecision[]> {
  const done: RetentionDecision[] = [];
  for (let i = 0; i < decisions.length; i += batchSize) {
    const batch = decisions.slice(i, i + batchSize);
    const carried = await store.deleteTagsIfUnchanged(batch, hooks.runId);
    done.push(...carried);
    await hooks.afterBatch?.(carried);
  }
  return done;
}
