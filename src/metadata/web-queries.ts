import type { Database } from "./database";
import { foldRepositoryFigures } from "./repository-figures";
import { naturalCompare } from "../kernel/natural-order";

export const REPOSITORY_SORTS = ["name", "pushed", "size", "pulls"] as const;
export type RepositorySort = (typeof REPOSITORY_SORTS)[number];
export const TAG_SORTS = ["name", "pushed"] as const;
export type TagSort = (typeof TAG_SORTS)[number];

/** What a principal may pull, for list queries: see AccessPolicy.visibility. Public projects are always in. */
export type Visibility = { all: true } | { all: false; projectIds: number[] | "all" };

/** Names no local project owns (their project is implicit) that a mirror serves to everyone: all of them, some prefixes, or none. */
export type MirrorVisibility = "all" | string[] | null;

export interface RepositoryFilter {
  visibility: Visibility;
  mirrored: MirrorVisibility;
  /** Substring of the name. */
  q?: string;
  /** Only this project's repositories. */
  project?: string;
}

export interface Page {
  page: number;
  pageSize: number;
}

export interface RepositoryRow {
  name: string;
  project: string;
  /** Whether its project is public. */
  public: boolean;
  tagCount: number;
  sizeBytes: number;
  pushedAt: Date;
  pullCount: number;
  lastPulledAt: Date | null;
}

/** A tag and the manifest it points at, content included. */
export interface TagManifestRow {
  name: string;
  digest: string;
  mediaType: string;
  content: Buffer;
  createdAt: Date;
  pushedAt: Date;
  lastPulledAt: Date | null;
}

/** A manifest as the artifact list shows it: its tags and how many manifests refer to it (OCI subject). */
export interface ArtifactRow {
  digest: string;
  mediaType: string;
  content: Buffer;
  createdAt: Date;
  lastPulledAt: Date | null;
  /** In natural order. */
  tags: string[];
  referrers: number;
}

export interface WebQueries {
  listRepositories(filter: RepositoryFilter, sort: RepositorySort, order: "asc" | "desc", page: Page): Promise<{ total: number; items: RepositoryRow[] }>;
  /** One repository, if it holds a manifest (blobs or uploads alone do not make one, as in the catalog). */
  findRepository(name: string): Promise<(RepositoryRow & { id: number; manifestCount: number }) | null>;
  listTags(repositoryId: number, q: string | undefined, sort: TagSort, order: "asc" | "desc", page: Page): Promise<{ total: number; items: TagManifestRow[] }>;
  /**
   * A page of the repository's top-level manifests, newest first: every tagged one, and the untagged ones
   * that are neither a child of an index here nor a referrer of a manifest here (those show under their
   * parent or subject). `untagged` keeps only the untagged ones; `untaggedTotal` counts them either way.
   */
  listArtifacts(repositoryId: number, untagged: boolean, page: Page): Promise<{ total: number; untaggedTotal: number; items: ArtifactRow[] }>;
  /** Those of the repository's manifests named in `digests`. */
  manifestsOf(repositoryId: number, digests: string[]): Promise<Array<{ digest: string; mediaType: string; content: Buffer }>>;
  /** Tags that point at a manifest. */
  tagsOf(repositoryId: number, digest: string): Promise<string[]>;
  manifestDates(repositoryId: number, digest: string): Promise<{ createdAt: Date; lastPulledAt: Date | null } | null>;
}

const ORDER: Record<RepositorySort, string> = {
  name: `r.name`,
  pushed: `r.pushed_at`,
  size: `r.size_bytes`,
  pulls: `r.pull_count`,
};

/** Collects positional parameters while a statement is put together. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * The web UI's reads over repositories and tags, straight from Postgres: one indexed query per page and
 * one count, whatever the number of repositories. Sorting follows the indexes on repository
 * (name; pushed_at, size_bytes, pull_count each with name) and tag (repository_id with name, or with
 * updated_at and name); the figures are kept by triggers (migrations 20261124100000_web and
 * 20261125090000_repository_figures_delta), brought up to date before each read of them.
 */
export class SqlWebQueries implements WebQueries {
  constructor(private readonly db: Pick<Database, "query">) {}

  /** The statement behind listRepositories, exposed for EXPLAIN in tests. */
  repositoryListSql(filter: RepositoryFilter, sort: RepositorySort, order: "asc" | "desc", page: Page): { sql: string; params: unknown[] } {
    const p = new Params();
    const where = this.where(filter, p);
    const dir = order === "desc" ? "DESC" : "ASC";
    const orderBy = sort === "name" ? `r.name ${dir}` : `${ORDER[sort]} ${dir}, r.name ${dir}`;
    const sql = `
      SELECT r.name, r.pushed_at, r.size_bytes, r.tag_count, r.pull_count, r.last_pulled_at, p.public
        FROM repository r JOIN project p ON p.id = r.project_id
       WHERE ${where}
       ORDER BY ${orderBy}
       LIMIT ${p.add(page.pageSize)} OFFSET ${p.add((page.page - 1) * page.pageSize)}`;
    return { sql, params: p.values };
  }

  repositoryCountSql(filter: RepositoryFilter): { sql: string; params: unknown[] } {
    const p = new Params();
    const where = this.where(filter, p);
    return {
      sql: `SELECT count(*) AS n FROM repository r JOIN project p ON p.id = r.project_id WHERE ${where}`,
      params: p.values,
    };
  }

  async listRepositories(filter: RepositoryFilter, sort: RepositorySort, order: "asc" | "desc", page: Page): Promise<{ total: number; items: RepositoryRow[] }> {
    const list = this.repositoryListSql(filter, sort, order, page);
    const count = this.repositoryCountSql(filter);
    await foldRepositoryFigures(this.db);
    const [rows, [{ n }]] = await Promise.all([
      this.db.query<RepoDbRow>(list.sql, list.params),
      this.db.query<{ n: bigint }>(count.sql, count.params),
    ]);
    return { total: Number(n), items: rows.map(repositoryRow) };
  }

  async findRepository(name: string): Promise<(RepositoryRow & { id: number; manifestCount: number }) | null> {
    await foldRepositoryFigures(this.db);
    const rows = await this.db.query<RepoDbRow & { id: number; manifests: bigint }>(
      `SELECT r.id, r.name, r.pushed_at, r.size_bytes, r.tag_count, r.pull_count, r.last_pulled_at, p.public,
              (SELECT count(*) FROM manifest m WHERE m.repository_id = r.id) AS manifests
         FROM repository r JOIN project p ON p.id = r.project_id
        WHERE r.name = $1`,
      [name],
    );
    const row = rows[0];
    if (!row || Number(row.manifests) === 0) return null;
    return { ...repositoryRow(row), id: row.id, manifestCount: Number(row.manifests) };
  }

  /** The statement behind listTags by push time, exposed for EXPLAIN in tests. */
  tagListSql(repositoryId: number, q: string | undefined, order: "asc" | "desc", page: Page): { sql: string; params: unknown[] } {
    const p = new Params();
    const dir = order === "desc" ? "DESC" : "ASC";
    const sql = `
      ${TAG_COLUMNS}
       WHERE t.repository_id = ${p.add(repositoryId)}${q ? ` AND strpos(t.name, ${p.add(q)}) > 0` : ""}
       ORDER BY t.updated_at ${dir}, t.name ${dir}
       LIMIT ${p.add(page.pageSize)} OFFSET ${p.add((page.page - 1) * page.pageSize)}`;
    return { sql, params: p.values };
  }

  /** The statement behind listTags by name: every matching name (an index-only walk of tag_pkey), sorted naturally here. */
  tagNamesSql(repositoryId: number, q: string | undefined): { sql: string; params: unknown[] } {
    return {
      sql: `SELECT t.name FROM tag t WHERE t.repository_id = $1${q ? " AND strpos(t.name, $2) > 0" : ""}`,
      params: q ? [repositoryId, q] : [repositoryId],
    };
  }

  async listTags(repositoryId: number, q: string | undefined, sort: TagSort, order: "asc" | "desc", page: Page): Promise<{ total: number; items: TagManifestRow[] }> {
    if (sort === "name") return this.listTagsByName(repositoryId, q, order, page);
    const list = this.tagListSql(repositoryId, q, order, page);
    const names = this.tagNamesSql(repositoryId, q);
    const [rows, [{ n }]] = await Promise.all([
      this.db.query<TagDbRow>(list.sql, list.params),
      this.db.query<{ n: bigint }>(`SELECT count(*) AS n FROM (${names.sql}) t`, names.params),
    ]);
    return { total: Number(n), items: rows.map(tagManifestRow) };
  }

  /**
   * Natural order (build-2 before build-10) is not an order Postgres's indexes hold, so the names are read
   * and sorted here and only the page's rows fetched: one narrow index walk per page, fine for the
   * thousands of tags a repository holds (the scale test has 5,000).
   */
  private async listTagsByName(repositoryId: number, q: string | undefined, order: "asc" | "desc", page: Page): Promise<{ total: number; items: TagManifestRow[] }> {
    const names = this.tagNamesSql(repositoryId, q);
    const all = (await this.db.query<{ name: string }>(names.sql, names.params)).map((r) => r.name).sort(naturalCompare);
    if (order === "desc") all.reverse();
    const wanted = all.slice((page.page - 1) * page.pageSize, page.page * page.pageSize);
    const rows = wanted.length ? await this.db.query<TagDbRow>(`${TAG_COLUMNS} WHERE t.repository_id = $1 AND t.name = ANY($2::text[])`, [repositoryId, wanted]) : [];
    const byName = new Map(rows.map((r) => [r.name, r]));
    return { total: all.length, items: wanted.flatMap((name) => (byName.has(name) ? [tagManifestRow(byName.get(name)!)] : [])) };
  }

  /** The statement behind listArtifacts, exposed for EXPLAIN in tests. */
  artifactListSql(repositoryId: number, untagged: boolean, page: Page): { sql: string; params: unknown[] } {
    const p = new Params();
    const sql = `
      SELECT m.digest, m.media_type, m.content, m.created_at,
             -- A pull by digest marks the manifest, a pull by tag marks the tag: the latest of them is the manifest's.
             GREATEST(m.last_pulled_at, (SELECT max(t.last_pulled_at) FROM tag t WHERE t.manifest_id = m.id)) AS last_pulled_at,
             ARRAY(SELECT t.name FROM tag t WHERE t.manifest_id = m.id) AS tags,
             (SELECT count(*) FROM manifest x WHERE x.repository_id = m.repository_id AND x.subject_digest = m.digest) AS referrers
        FROM manifest m
       WHERE m.repository_id = ${p.add(repositoryId)} AND ${untagged ? UNTAGGED : TOP_LEVEL}
       ORDER BY m.created_at DESC, m.id DESC
       LIMIT ${p.add(page.pageSize)} OFFSET ${p.add((page.page - 1) * page.pageSize)}`;
    return { sql, params: p.values };
  }

  async listArtifacts(repositoryId: number, untagged: boolean, page: Page): Promise<{ total: number; untaggedTotal: number; items: ArtifactRow[] }> {
    const list = this.artifactListSql(repositoryId, untagged, page);
    const [rows, [counts]] = await Promise.all([
      this.db.query<{ digest: string; media_type: string; content: Buffer; created_at: Date; last_pulled_at: Date | null; tags: string[]; referrers: bigint }>(list.sql, list.params),
      // Each manifest is tested once, and the costlier "shown on its own" test only when it has no tag.
      this.db.query<{ total: bigint; untagged: bigint }>(
        `SELECT count(*) FILTER (WHERE tagged OR loose) AS total, count(*) FILTER (WHERE loose) AS untagged
           FROM (SELECT ${TAGGED} AS tagged, CASE WHEN ${TAGGED} THEN false ELSE ${UNTAGGED} END AS loose
                   FROM manifest m WHERE m.repository_id = $1) flags`,
        [repositoryId],
      ),
    ]);
    return {
      total: Number(untagged ? counts.untagged : counts.total),
      untaggedTotal: Number(counts.untagged),
      items: rows.map((r) => ({
        digest: r.digest,
        mediaType: r.media_type,
        content: r.content,
        createdAt: r.created_at,
        lastPulledAt: r.last_pulled_at,
        tags: [...r.tags].sort(naturalCompare),
        referrers: Number(r.referrers),
      })),
    };
  }

  async manifestsOf(repositoryId: number, digests: string[]): Promise<Array<{ digest: string; mediaType: string; content: Buffer }>> {
    const rows = await this.db.query<{ digest: string; media_type: string; content: Buffer }>(
      `SELECT digest, media_type, content FROM manifest WHERE repository_id = $1 AND digest = ANY($2::text[])`,
      [repositoryId, digests],
    );
    return rows.map((r) => ({ digest: r.digest, mediaType: r.media_type, content: r.content }));
  }

  async tagsOf(repositoryId: number, digest: string): Promise<string[]> {
    const rows = await this.db.query<{ name: string }>(
      `SELECT t.name FROM tag t JOIN manifest m ON m.id = t.manifest_id WHERE t.repository_id = $1 AND m.digest = $2`,
      [repositoryId, digest],
    );
    return rows.map((r) => r.name).sort(naturalCompare);
  }

  async manifestDates(repositoryId: number, digest: string): Promise<{ createdAt: Date; lastPulledAt: Date | null } | null> {
    const rows = await this.db.query<{ created_at: Date; last_pulled_at: Date | null }>(
      `SELECT created_at, last_pulled_at FROM manifest WHERE repository_id = $1 AND digest = $2`,
      [repositoryId, digest],
    );
    return rows[0] ? { createdAt: rows[0].created_at, lastPulledAt: rows[0].last_pulled_at } : null;
  }

  private where(filter: RepositoryFilter, p: Params): string {
    const clauses = [`EXISTS (SELECT 1 FROM manifest m WHERE m.repository_id = r.id)`];
    if (filter.q) clauses.push(`strpos(r.name, ${p.add(filter.q)}) > 0`);
    if (filter.project) {
      // A range on the name (C collation) instead of split_part, so the name index serves it.
      const name = p.add(filter.project);
      clauses.push(`(r.name = ${name} OR (r.name > ${name} || '/' AND r.name < ${name} || '0'))`);
    }
    const v = filter.visibility;
    if (!v.all) {
      const any = ["p.public"];
      if (v.projectIds === "all") any.push("true");
      else if (v.projectIds.length) any.push(`p.id = ANY(${p.add(v.projectIds)}::int[])`);
      if (filter.mirrored === "all") any.push("p.implicit");
      else if (filter.mirrored?.length) {
        any.push(`(p.implicit AND (${filter.mirrored.map((prefix) => `starts_with(r.name, ${p.add(`${prefix}/`)})`).join(" OR ")}))`);
      }
      clauses.push(`(${any.join(" OR ")})`);
    }
    return clauses.join(" AND ");
  }
}

const TAG_COLUMNS = `SELECT t.name, t.updated_at, t.last_pulled_at, m.digest, m.media_type, m.created_at, m.content FROM tag t JOIN manifest m ON m.id = t.manifest_id`;

// Each test is a lookup per manifest through an index (tag_manifest_id_idx, the manifest digest key,
// manifest_reference_digest_idx). OFFSET 0 keeps each a per-row probe: without it the planner may hash the
// whole manifest table to answer one page of one repository.
const TAGGED = `EXISTS (SELECT 1 FROM tag t WHERE t.manifest_id = m.id OFFSET 0)`;
/** An untagged manifest shown on its own: not a child of an index in the repository, not a referrer of a manifest in it. */
const UNTAGGED = `NOT ${TAGGED}
  AND NOT EXISTS (SELECT 1 FROM manifest s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest OFFSET 0)
  AND NOT EXISTS (SELECT 1 FROM manifest_reference r JOIN manifest i ON i.id = r.manifest_id
                   WHERE r.digest = m.digest AND r.kind = 'manifest' AND i.repository_id = m.repository_id OFFSET 0)`;
const TOP_LEVEL = `(${TAGGED} OR (${UNTAGGED}))`;

function tagManifestRow(r: TagDbRow): TagManifestRow {
  return {
    name: r.name,
    digest: r.digest,
    mediaType: r.media_type,
    content: r.content,
    createdAt: r.created_at,
    pushedAt: r.updated_at,
    lastPulledAt: r.last_pulled_at,
  };
}

interface RepoDbRow {
  name: string;
  pushed_at: Date;
  size_bytes: bigint;
  tag_count: number;
  pull_count: bigint;
  last_pulled_at: Date | null;
  public: boolean;
}

interface TagDbRow {
  name: string;
  updated_at: Date;
  last_pulled_at: Date | null;
  digest: string;
  media_type: string;
  created_at: Date;
  content: Buffer;
}

function repositoryRow(r: RepoDbRow): RepositoryRow {
  const slash = r.name.indexOf("/");
  return {
    name: r.name,
    project: slash === -1 ? r.name : r.name.slice(0, slash),
    public: r.public,
    tagCount: Number(r.tag_count),
    sizeBytes: Number(r.size_bytes),
    pushedAt: r.pushed_at,
    pullCount: Number(r.pull_count),
    lastPulledAt: r.last_pulled_at,
  };
}
