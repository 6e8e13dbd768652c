// The mark phase: from the metadata alone, which manifests are still reachable and what is garbage.
// It decides nothing by itself (every sweep batch re-checks under locks, see src/gc/collector.ts); it gives the
// dry-run report and tells the sweep which repositories to visit.
import { num, type GcDatabase, type Query } from "./gc-sql";

/**
 * A recursive CTE named `kept`: the ids of manifests that must stay. Roots are manifests with a tag (not
 * counting `excluded` tags, which retention is about to delete) and manifests younger than the cutoff;
 * from a kept manifest, its index children, its subject (a kept signature keeps what it signs) and its
 * referrers (a kept image keeps its signatures and SBOMs) are kept too. Children and subjects are looked
 * up in the same repository, as the OCI spec scopes them.
 *
 * Placeholders: `cutoff` and optionally `repository` (one repository's manifests) and `excluded`
 * (two parameters: int[] of repository ids and text[] of tag names, pairwise).
 */
export function keptCte(p: { cutoff: string; repository?: string; excluded?: [string, string] }): string {
  const inRepository = p.repository ? `m.repository_id = ${p.repository} AND ` : "";
  const notExcluded = p.excluded
    ? `AND NOT EXISTS (SELECT 1 FROM unnest(${p.excluded[0]}::int[], ${p.excluded[1]}::text[]) AS x(repository_id, name)
                       WHERE x.repository_id = t.repository_id AND x.name = t.name)`
    : "";
  return `kept(id) AS (
    SELECT m.id FROM manifest m
    WHERE ${inRepository}(m.created_at >= ${p.cutoff}
      OR EXISTS (SELECT 1 FROM tag t WHERE t.manifest_id = m.id ${notExcluded}))
    UNION
    SELECT e.id FROM kept k CROSS JOIN LATERAL (
      SELECT c.id FROM manifest_reference mr
        JOIN manifest p ON p.id = mr.manifest_id
        JOIN manifest c ON c.repository_id = p.repository_id AND c.digest = mr.digest
        WHERE mr.manifest_id = k.id AND mr.kind = 'manifest'
      UNION ALL
      SELECT s.id FROM manifest r
        JOIN manifest s ON s.repository_id = r.repository_id AND s.digest = r.subject_digest
        WHERE r.id = k.id
      UNION ALL
      SELECT r.id FROM manifest s
        JOIN manifest r ON r.repository_id = s.repository_id AND r.subject_digest = s.digest
        WHERE s.id = k.id
    ) e
  )`;
}

export interface MarkInput {
  cutoff: Date;
  uploadCutoff: Date;
  /** False: every manifest counts as kept (untagged-manifest collection switched off). */
  untagged: boolean;
  /** Tags to treat as already deleted (a dry run's retention decisions). */
  excludedTags: Array<{ repositoryId: number; name: string }>;
  /** Items listed per kind; `truncated` says there were more. */
  itemLimit: number;
}

export interface RepositoryPlan {
  manifests: number;
  manifestBytes: number;
  /** Blobs made unreadable in this repository (their bytes go only when no repository keeps them). */
  links: number;
  linkBytes: number;
  uploads: number;
  uploadBytes: number;
}

export interface Plan {
  repositories: Map<number, RepositoryPlan>;
  names: Map<number, string>;
  blobs: number;
  blobBytes: number;
  manifestItems: Array<{ repositoryId: number; digest: string; size: number }>;
  blobItems: Array<{ digest: string; size: number }>;
  truncated: boolean;
}

export function emptyRepositoryPlan(): RepositoryPlan {
  return { manifests: 0, manifestBytes: 0, links: 0, linkBytes: 0, uploads: 0, uploadBytes: 0 };
}

/** Computes everything a collection with these settings would delete now, in one consistent snapshot. */
export async function mark(db: GcDatabase, input: MarkInput): Promise<Plan> {
  return db.transaction((q) => markIn(q, input), { readOnlySnapshot: true });
}

async function markIn(q: Query, input: MarkInput): Promise<Plan> {
  const { cutoff, uploadCutoff, itemLimit } = input;
  // Temp tables (dropped at commit) so later statements can join the kept set and the doomed links.
  await q(`CREATE TEMP TABLE gc_kept (id integer PRIMARY KEY) ON COMMIT DROP`);
  if (input.untagged) {
    await q(
      `WITH RECURSIVE ${keptCte({ cutoff: "$1::timestamptz", excluded: ["$2", "$3"] })}
       INSERT INTO gc_kept SELECT id FROM kept`,
      [cutoff, input.excludedTags.map((t) => t.repositoryId), input.excludedTags.map((t) => t.name)],
    );
  } else {
    await q(`INSERT INTO gc_kept SELECT id FROM manifest`);
  }
  await q(`ANALYZE gc_kept`);

  // Links no kept manifest of their repository references, old enough and of blobs not touched lately.
  await q(`CREATE TEMP TABLE gc_dead_link (repository_id integer, digest text, size bigint,
           PRIMARY KEY (repository_id, digest)) ON COMMIT DROP`);
  await q(
    `INSERT INTO gc_dead_link
     SELECT rb.repository_id, rb.digest, b.size FROM repository_blob rb JOIN blob b ON b.digest = rb.digest
     WHERE rb.created_at < $1 AND b.last_touched_at < $1
       AND NOT EXISTS (SELECT 1 FROM manifest_reference mr JOIN manifest m ON m.id = mr.manifest_id
                       JOIN gc_kept k ON k.id = m.id
                       WHERE mr.digest = rb.digest AND m.repository_id = rb.repository_id)`,
    [cutoff],
  );
  await q(`ANALYZE gc_dead_link`);

  const plan: Plan = {
    repositories: new Map(),
    names: new Map(),
    blobs: 0,
    blobBytes: 0,
    manifestItems: [],
    blobItems: [],
    truncated: false,
  };
  const repo = (id: number) => {
    let r = plan.repositories.get(id);
    if (!r) plan.repositories.set(id, (r = emptyRepositoryPlan()));
    return r;
  };

  const deadManifests = `FROM manifest m WHERE NOT EXISTS (SELECT 1 FROM gc_kept k WHERE k.id = m.id)`;
  for (const row of await q<{ repository_id: number; n: number; bytes: unknown }>(
    `SELECT m.repository_id, count(*)::int AS n, sum(m.size)::int8 AS bytes ${deadManifests} GROUP BY 1`,
  )) {
    Object.assign(repo(row.repository_id), { manifests: row.n, manifestBytes: num(row.bytes) });
  }
  const manifestItems = await q<{ repository_id: number; digest: string; size: number }>(
    `SELECT m.repository_id, m.digest, m.size ${deadManifests} ORDER BY m.repository_id, m.id LIMIT ${itemLimit + 1}`,
  );
  plan.manifestItems = manifestItems.slice(0, itemLimit).map((r) => ({ repositoryId: r.repository_id, digest: r.digest, size: r.size }));

  for (const row of await q<{ repository_id: number; n: number; bytes: unknown }>(
    `SELECT repository_id, count(*)::int AS n, sum(size)::int8 AS bytes FROM gc_dead_link GROUP BY 1`,
  )) {
    Object.assign(repo(row.repository_id), { links: row.n, linkBytes: num(row.bytes) });
  }

  // Blobs no kept manifest anywhere references and no surviving link keeps readable.
  const deadBlobs = `FROM blob b WHERE b.last_touched_at < $1
    AND NOT EXISTS (SELECT 1 FROM repository_blob rb WHERE rb.digest = b.digest
                    AND NOT EXISTS (SELECT 1 FROM gc_dead_link d WHERE d.repository_id = rb.repository_id AND d.digest = rb.digest))
    AND NOT EXISTS (SELECT 1 FROM manifest_reference mr JOIN gc_kept k ON k.id = mr.manifest_id WHERE mr.digest = b.digest)`;
  const [blobs] = await q<{ n: number; bytes: unknown }>(`SELECT count(*)::int AS n, coalesce(sum(b.size), 0)::int8 AS bytes ${deadBlobs}`, [cutoff]);
  plan.blobs = blobs.n;
  plan.blobBytes = num(blobs.bytes);
  const blobItems = await q<{ digest: string; size: unknown }>(`SELECT b.digest, b.size ${deadBlobs} ORDER BY b.digest LIMIT ${itemLimit + 1}`, [cutoff]);
  plan.blobItems = blobItems.slice(0, itemLimit).map((r) => ({ digest: r.digest, size: num(r.size) }));

  for (const row of await q<{ repository_id: number; n: number; bytes: unknown }>(
    `SELECT repository_id, count(*)::int AS n, coalesce(sum("offset"), 0)::int8 AS bytes FROM upload WHERE updated_at < $1 GROUP BY 1`,
    [uploadCutoff],
  )) {
    Object.assign(repo(row.repository_id), { uploads: row.n, uploadBytes: num(row.bytes) });
  }

  plan.truncated = manifestItems.length > itemLimit || blobItems.length > itemLimit;
  const ids = [...plan.repositories.keys()];
  if (ids.length) {
    for (const row of await q<{ id: number; name: string }>(`SELECT id, name FROM repository WHERE id = ANY($1::int[])`, [ids])) {
      plan.names.set(row.id, row.name);
    }
  }
  return plan;
}
