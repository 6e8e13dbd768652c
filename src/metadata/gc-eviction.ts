// The database side of mirror cache eviction (src/gc/eviction.ts): what the mirror cache holds, and
// deleting the evicted images (tags, mirror_tag rows, manifests). Local (pushed) content is never touched:
// a repository is mirrored when its name is one the mirror serves and so takes no pushes
// (src/proxy/mirror-routing.ts, isMirrored).
import { addToRun, logDeleted } from "./gc-runs";
import { num, type GcDatabase, type Query } from "./gc-sql";

/** The mirror as eviction needs it, from the configuration. */
export interface MirrorCache {
  /** Prefixes of the prefixed upstreams: names under them are mirrored. */
  prefixes: string[];
  /** A default upstream serves every name no local project owns (its project is implicit). */
  hasDefault: boolean;
  limitBytes: number;
  targetBytes: number;
}

/** A manifest of a mirrored repository, as the planner sees it. */
export interface MirroredManifest {
  id: number;
  repositoryId: number;
  /** Its fetch, its last pull (by digest or through a tag), or its tags' last move, whichever is latest. */
  lastUsed: Date;
  /** Digests of the blobs it references (config and layers). */
  blobs: string[];
}

export interface CachedBlob {
  size: number;
  /** Also held by a local (pushed) repository: not part of the cache, never freed by eviction. */
  shared: boolean;
  /** Touched within the grace period: the sweep would spare it, so evicting frees nothing of it now. */
  fresh: boolean;
}

/** The mirror cache's structure as one snapshot shows it. */
export interface CacheSnapshot {
  manifests: MirroredManifest[];
  /** Index → child edges within a repository. */
  children: Array<{ parent: number; child: number }>;
  blobs: Map<string, CachedBlob>;
}

/** What the planner chose: images (a root manifest with members) and the bytes each frees. */
export interface CacheChoice {
  chosen: Array<{ unit: { root: number; repositoryId: number; members: number[]; lastUsed: Date }; bytes: number }>;
  /** Manifests the chosen images remove. */
  manifests: Set<number>;
}

/** SQL: repository `r` is mirrored. Parameters $1 (prefixes, text[]) and $2 (default upstream, boolean). */
const MIRRORED = `(EXISTS (SELECT 1 FROM unnest($1::text[]) AS p(prefix) WHERE starts_with(r.name, p.prefix || '/'))
  OR ($2::boolean AND (SELECT pr.implicit FROM project pr WHERE pr.id = r.project_id)))`;

/** SQL: the latest use of manifest `m`: fetched, pulled by digest, or one of its tags moved or pulled. */
const LAST_USED = `GREATEST(m.created_at, m.last_pulled_at,
  (SELECT max(GREATEST(t.updated_at, t.last_pulled_at)) FROM tag t WHERE t.manifest_id = m.id))`;

/** SQL: blob `digest` is held by a repository that is not in gc_mirrored. */
const SHARED = (digest: string) => `(EXISTS (SELECT 1 FROM repository_blob rb WHERE rb.digest = ${digest}
    AND NOT EXISTS (SELECT 1 FROM gc_mirrored g WHERE g.id = rb.repository_id))
  OR EXISTS (SELECT 1 FROM manifest_reference lr JOIN manifest lm ON lm.id = lr.manifest_id WHERE lr.digest = ${digest}
    AND NOT EXISTS (SELECT 1 FROM gc_mirrored g WHERE g.id = lm.repository_id)))`;

async function loadMirrored(q: Query, cache: MirrorCache): Promise<void> {
  await q(`CREATE TEMP TABLE gc_mirrored (id integer PRIMARY KEY) ON COMMIT DROP`);
  await q(`INSERT INTO gc_mirrored SELECT r.id FROM repository r WHERE ${MIRRORED}`, [cache.prefixes, cache.hasDefault]);
}

/** Bytes the mirror cache takes now (as selectEvictions counts them); cheap enough to ask after fetches. */
export async function mirrorCacheBytes(db: GcDatabase, cache: MirrorCache): Promise<number> {
  return db.transaction(async (q) => {
    await loadMirrored(q, cache);
    return cacheBytesIn(q);
  });
}

async function cacheBytesIn(q: Query): Promise<number> {
  const [row] = await q<{ bytes: unknown }>(
    `SELECT coalesce(sum(b.size), 0)::int8 AS bytes FROM blob b
     WHERE b.digest IN (SELECT mr.digest FROM manifest_reference mr JOIN manifest m ON m.id = mr.manifest_id
                        JOIN gc_mirrored g ON g.id = m.repository_id WHERE mr.kind = 'blob')
       AND NOT ${SHARED("b.digest")}`,
  );
  return num(row.bytes);
}

/** One image to evict: a root manifest and the members only it reaches. */
export interface EvictionDecision {
  repositoryId: number;
  repository: string;
  /** The root manifest. */
  manifestId: number;
  digest: string;
  /** Ids of the manifests to delete with it (itself included). */
  manifests: number[];
  /** Tags on those manifests as planned. */
  tags: string[];
  lastUsed: Date;
  /** Cache bytes its eviction frees, as planned (the sweep then deletes them). */
  bytes: number;
}

export interface EvictionPlan {
  limitBytes: number;
  targetBytes: number;
  cacheBytes: number;
  decisions: EvictionDecision[];
}

/**
 * What to evict as of `cutoff` (now less the grace period), from one consistent snapshot: `choose` (the
 * planner, src/gc/eviction-plan.ts) picks from the cache's structure when it is over its limit.
 */
export async function planEviction(
  db: GcDatabase,
  cache: MirrorCache,
  cutoff: Date,
  choose: (snapshot: CacheSnapshot) => CacheChoice,
): Promise<EvictionPlan> {
  return db.transaction(
    async (q) => {
      await loadMirrored(q, cache);
      const plan: EvictionPlan = { limitBytes: cache.limitBytes, targetBytes: cache.targetBytes, cacheBytes: await cacheBytesIn(q), decisions: [] };
      // Within the limit (the usual case): no need to load the whole cache's structure.
      if (plan.cacheBytes <= cache.limitBytes) return plan;
      const manifests = await q<{ id: number; repository_id: number; last_used: Date }>(
        `SELECT m.id, m.repository_id, ${LAST_USED} AS last_used FROM manifest m JOIN gc_mirrored g ON g.id = m.repository_id`,
      );
      const refs = await q<{ id: number; digest: string }>(
        `SELECT mr.manifest_id AS id, mr.digest FROM manifest_reference mr JOIN manifest m ON m.id = mr.manifest_id
         JOIN gc_mirrored g ON g.id = m.repository_id WHERE mr.kind = 'blob'`,
      );
      const children = await q<{ parent: number; child: number }>(
        `SELECT p.id AS parent, c.id AS child FROM manifest p JOIN gc_mirrored g ON g.id = p.repository_id
         JOIN manifest_reference mr ON mr.manifest_id = p.id AND mr.kind = 'manifest'
         JOIN manifest c ON c.repository_id = p.repository_id AND c.digest = mr.digest`,
      );
      const blobRows = await q<{ digest: string; size: unknown; shared: boolean; fresh: boolean }>(
        `SELECT b.digest, b.size, ${SHARED("b.digest")} AS shared, b.last_touched_at >= $1 AS fresh FROM blob b
         WHERE b.digest IN (SELECT mr.digest FROM manifest_reference mr JOIN manifest m ON m.id = mr.manifest_id
                            JOIN gc_mirrored g ON g.id = m.repository_id WHERE mr.kind = 'blob')`,
        [cutoff],
      );
      const blobsOf = new Map<number, string[]>();
      for (const r of refs) {
        const digests = blobsOf.get(r.id);
        if (digests) digests.push(r.digest);
        else blobsOf.set(r.id, [r.digest]);
      }
      const mirrored: MirroredManifest[] = manifests.map((m) => ({
        id: m.id,
        repositoryId: m.repository_id,
        lastUsed: m.last_used,
        blobs: blobsOf.get(m.id) ?? [],
      }));
      const blobs = new Map<string, CachedBlob>(blobRows.map((b) => [b.digest, { size: num(b.size), shared: b.shared, fresh: b.fresh }]));
      const selection = choose({ manifests: mirrored, children, blobs });
      if (!selection.chosen.length) return plan;

      const ids = [...selection.manifests];
      const described = await q<{ id: number; digest: string; repository: string; tags: string[] }>(
        `SELECT m.id, m.digest, r.name AS repository,
                coalesce((SELECT array_agg(t.name ORDER BY t.name) FROM tag t WHERE t.manifest_id = m.id), '{}') AS tags
         FROM manifest m JOIN repository r ON r.id = m.repository_id WHERE m.id = ANY($1::int[])`,
        [ids],
      );
      const byId = new Map(described.map((d) => [d.id, d]));
      plan.decisions = selection.chosen.map(({ unit, bytes }) => {
        const members = unit.members.filter((id) => selection.manifests.has(id));
        const root = byId.get(unit.root)!;
        return {
          repositoryId: unit.repositoryId,
          repository: root.repository,
          manifestId: unit.root,
          digest: root.digest,
          manifests: members,
          tags: members.flatMap((id) => byId.get(id)?.tags ?? []),
          lastUsed: unit.lastUsed,
          bytes,
        };
      });
      return plan;
    },
    { readOnlySnapshot: true },
  );
}

/** What evicting one decision actually removed. */
export interface EvictionResult {
  decision: EvictionDecision;
  tags: string[];
  manifests: Array<{ id: number; digest: string; size: number }>;
}

/**
 * Evicts a batch of one repository's decisions in one transaction under the repository's row lock (as the
 * manifest sweep does, see src/gc/collector.ts), re-checking in a new statement that each root is still a
 * root and still unused since the cutoff. Members another manifest now lists stay, with what they list.
 * With `runId`, the batch's evictions are added to that run's counters in the same transaction.
 */
export async function evictBatchOf(
  db: GcDatabase,
  repositoryId: number,
  batch: EvictionDecision[],
  cutoff: Date,
  runId?: number,
): Promise<EvictionResult[]> {
  return db.transaction(async (q) => {
    const locked = await q(`SELECT id FROM repository WHERE id = $1 FOR UPDATE`, [repositoryId]);
    if (!locked.length) return [];
    const results = await evictBatch(q, repositoryId, batch, cutoff);
    if (runId !== undefined) {
      await addToRun(q, runId, {
        evicted: results.length,
        tags: results.reduce((n, d) => n + d.tags.length, 0),
        manifests: results.reduce((n, d) => n + d.manifests.length, 0),
      });
      await logDeleted(
        q,
        runId,
        results.flatMap((r) => [
          ...r.tags.map((tag) => ({ kind: "tag" as const, repositoryId, tag, digest: r.decision.digest })),
          ...r.manifests.map((m) => ({ kind: "manifest" as const, repositoryId, digest: m.digest, bytes: m.size })),
        ]),
      );
    }
    return results;
  });
}

async function evictBatch(q: Query, repositoryId: number, batch: EvictionDecision[], cutoff: Date): Promise<EvictionResult[]> {
  const planned = batch.flatMap((d) => d.manifests);
  // Roots still unlisted and unused since the cutoff, with their planned members as they are now.
  const still = await q<{ root: number; id: number }>(
    `WITH RECURSIVE closure(root, id) AS (
       SELECT m.id, m.id FROM manifest m
       WHERE m.repository_id = $1 AND m.id = ANY($2::int[])
         AND NOT EXISTS (SELECT 1 FROM manifest p JOIN manifest_reference mr ON mr.manifest_id = p.id AND mr.kind = 'manifest'
                         WHERE p.repository_id = $1 AND mr.digest = m.digest)
       UNION
       SELECT cl.root, c.id FROM closure cl JOIN manifest_reference mr ON mr.manifest_id = cl.id AND mr.kind = 'manifest'
       JOIN manifest c ON c.repository_id = $1 AND c.digest = mr.digest
     ), used AS (
       SELECT cl.root FROM closure cl JOIN manifest m ON m.id = cl.id GROUP BY cl.root HAVING max(${LAST_USED}) < $3
     )
     SELECT cl.root, cl.id FROM closure cl JOIN used u ON u.root = cl.root WHERE cl.id = ANY($4::int[])`,
    [repositoryId, batch.map((d) => d.manifestId), cutoff, planned],
  );
  if (!still.length) return [];
  const doomed = [...new Set(still.map((r) => r.id))];
  // Members a manifest outside the doomed set lists (an index pulled since the plan) stay, with what they list.
  const spared = await q<{ id: number }>(
    `WITH RECURSIVE spared(id) AS (
       SELECT c.id FROM manifest c
       WHERE c.id = ANY($2::int[]) AND EXISTS (
         SELECT 1 FROM manifest p JOIN manifest_reference mr ON mr.manifest_id = p.id AND mr.kind = 'manifest'
         WHERE p.repository_id = $1 AND mr.digest = c.digest AND p.id <> ALL($2::int[]))
       UNION
       SELECT c.id FROM spared s JOIN manifest_reference mr ON mr.manifest_id = s.id AND mr.kind = 'manifest'
       JOIN manifest c ON c.repository_id = $1 AND c.digest = mr.digest WHERE c.id = ANY($2::int[])
     ) SELECT id FROM spared`,
    [repositoryId, doomed],
  );
  const keep = new Set(spared.map((r) => r.id));
  const ids = doomed.filter((id) => !keep.has(id));
  const tags = await q<{ manifest_id: number; name: string }>(
    `DELETE FROM tag WHERE repository_id = $1 AND manifest_id = ANY($2::int[]) RETURNING manifest_id, name`,
    [repositoryId, ids],
  );
  if (tags.length) {
    await q(`DELETE FROM mirror_tag WHERE repository_id = $1 AND tag = ANY($2::text[])`, [repositoryId, tags.map((t) => t.name)]);
  }
  const manifests = await q<{ id: number; digest: string; size: number }>(
    `DELETE FROM manifest WHERE repository_id = $1 AND id = ANY($2::int[]) RETURNING id, digest, size`,
    [repositoryId, ids],
  );
  const rootOf = new Map(still.map((r) => [r.id, r.root]));
  return batch
    .filter((d) => manifests.some((m) => rootOf.get(m.id) === d.manifestId))
    .map((decision) => ({
      decision,
      tags: tags.filter((t) => rootOf.get(t.manifest_id) === decision.manifestId).map((t) => t.name),
      manifests: manifests.filter((m) => rootOf.get(m.id) === decision.manifestId),
    }));
}
