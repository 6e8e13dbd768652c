import type { Visibility } from "../auth/policy";
import type { Database } from "../metadata/database";
import { foldRepositoryFigures } from "../metadata/repository-figures";
import { summarizeManifest, type Platform } from "./image-info";

export const REPOSITORY_SORTS = ["name", "pushed", "size", "pulls"] as const;
export type RepositorySort = (typeof REPOSITORY_SORTS)[number];
export const TAG_SORTS = ["name", "pushed"] as const;
export type TagSort = (typeof TAG_SORTS)[number];

/** Names no local project owns that a mirror serves to everyone: all of them, some prefixes, or none. */
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
  /** Whether its project is public (null: no such project). */
  public: boolean | null;
  tagCount: number;
  sizeBytes: number;
  pushedAt: Date;
  pullCount: number;
  lastPulledAt: Date | null;
}

export interface TagRow {
  name: string;
  digest: string;
  mediaType: string;
  kind: "image" | "index" | "other";
  /** Compressed size as pulled: manifest + config + layers; for an index, the sum over its platforms. */
  size: number | null;
  platforms: Array<Platform & { digest: string }>;
  artifactType: string | null;
  createdAt: Date;
  pushedAt: Date;
  lastPulledAt: Date | null;
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
export class RepositoryQueries {
  constructor(private readonly db: Pick<Database, "query">) {}

  /** The statement behind listRepositories, exposed for EXPLAIN in tests. */
  repositoryListSql(filter: RepositoryFilter, sort: RepositorySort, order: "asc" | "desc", page: Page): { sql: string; params: unknown[] } {
    const p = new Params();
    const where = this.where(filter, p);
    const dir = order === "desc" ? "DESC" : "ASC";
    const orderBy = sort === "name" ? `r.name ${dir}` : `${ORDER[sort]} ${dir}, r.name ${dir}`;
    const sql = `
      SELECT r.name, r.pushed_at, r.size_bytes, r.tag_count, r.pull_count, r.last_pulled_at, p.public
        FROM repository r LEFT JOIN project p ON p.name = split_part(r.name, '/', 1)
       WHERE ${where}
       ORDER BY ${orderBy}
       LIMIT ${p.add(page.pageSize)} OFFSET ${p.add((page.page - 1) * page.pageSize)}`;
    return { sql, params: p.values };
  }

  repositoryCountSql(filter: RepositoryFilter): { sql: string; params: unknown[] } {
    const p = new Params();
    const where = this.where(filter, p);
    return {
      sql: `SELECT count(*) AS n FROM repository r LEFT JOIN project p ON p.name = split_part(r.name, '/', 1) WHERE ${where}`,
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

  /** One repository, if it holds a manifest (blobs or uploads alone do not make one, as in the catalog). */
  async findRepository(name: string): Promise<(RepositoryRow & { id: number; manifestCount: number }) | null> {
    await foldRepositoryFigures(this.db);
    const rows = await this.db.query<RepoDbRow & { id: number; manifests: bigint }>(
      `SELECT r.id, r.name, r.pushed_at, r.size_bytes, r.tag_count, r.pull_count, r.last_pulled_at, p.public,
              (SELECT count(*) FROM manifest m WHERE m.repository_id = r.id) AS manifests
         FROM repository r LEFT JOIN project p ON p.name = split_part(r.name, '/', 1)
        WHERE r.name = $1`,
      [name],
    );
    const row = rows[0];
    if (!row || Number(row.manifests) === 0) return null;
    return { ...repositoryRow(row), id: row.id, manifestCount: Number(row.manifests) };
  }

  tagListSql(repositoryId: number, q: string | undefined, sort: TagSort, order: "asc" | "desc", page: Page): { sql: string; params: unknown[] } {
    const p = new Params();
    const dir = order === "desc" ? "DESC" : "ASC";
    const orderBy = sort === "name" ? `t.name ${dir}` : `t.updated_at ${dir}, t.name ${dir}`;
    const sql = `
      SELECT t.name, t.updated_at, t.last_pulled_at, m.digest, m.media_type, m.created_at, m.content
        FROM tag t JOIN manifest m ON m.id = t.manifest_id
       WHERE t.repository_id = ${p.add(repositoryId)}${q ? ` AND strpos(t.name, ${p.add(q)}) > 0` : ""}
       ORDER BY ${orderBy}
       LIMIT ${p.add(page.pageSize)} OFFSET ${p.add((page.page - 1) * page.pageSize)}`;
    return { sql, params: p.values };
  }

  async listTags(repositoryId: number, q: string | undefined, sort: TagSort, order: "asc" | "desc", page: Page): Promise<{ total: number; items: TagRow[] }> {
    const list = this.tagListSql(repositoryId, q, sort, order, page);
    const countParams: unknown[] = [repositoryId];
    if (q) countParams.push(q);
    const [rows, [{ n }]] = await Promise.all([
      this.db.query<TagDbRow>(list.sql, list.params),
      this.db.query<{ n: bigint }>(`SELECT count(*) AS n FROM tag t WHERE t.repository_id = $1${q ? " AND strpos(t.name, $2) > 0" : ""}`, countParams),
    ]);
    const summaries = rows.map((r) => summarizeManifest(r.media_type, r.content));
    // An index's size is its platforms' sizes: read those children (one query for the whole page).
    const childDigests = [...new Set(summaries.flatMap((s) => s.children.map((c) => c.digest)))];
    const childSizes = new Map<string, number>();
    if (childDigests.length) {
      const children = await this.db.query<{ digest: string; media_type: string; content: Buffer }>(
        `SELECT digest, media_type, content FROM manifest WHERE repository_id = $1 AND digest = ANY($2::text[])`,
        [repositoryId, childDigests],
      );
      for (const c of children) childSizes.set(c.digest, summarizeManifest(c.media_type, c.content).size ?? 0);
    }
    const items = rows.map((r, i): TagRow => {
      const s = summaries[i];
      const size =
        s.kind === "index"
          ? r.content.length + s.children.reduce((sum, c) => sum + (childSizes.get(c.digest) ?? c.size), 0)
          : s.size;
      return {
        name: r.name,
        digest: r.digest,
        mediaType: r.media_type,
        kind: s.kind,
        size,
        platforms: s.children.filter((c) => c.platform && !c.attestation).map((c) => ({ ...c.platform!, digest: c.digest })),
        artifactType: s.artifactType,
        createdAt: r.created_at,
        pushedAt: r.updated_at,
        lastPulledAt: r.last_pulled_at,
      };
    });
    return { total: Number(n), items };
  }

  /** Tags that point at a manifest. */
  async tagsOf(repositoryId: number, digest: string): Promise<string[]> {
    const rows = await this.db.query<{ name: string }>(
      `SELECT t.name FROM tag t JOIN manifest m ON m.id = t.manifest_id WHERE t.repository_id = $1 AND m.digest = $2 ORDER BY t.name`,
      [repositoryId, digest],
    );
    return rows.map((r) => r.name);
  }

  async manifestDates(repositoryId: number, digest: string): Promise<{ createdAt: Date; lastPulledAt: Date | null } | null> {
    const rows = await this.db.query<{ created_at: Date; last_pulled_at: Date | null }>(
      `SELECT created_at, last_pulled_at FROM manifest WHERE repository_id = $1 AND digest = $2`,
      [repositoryId, digest],
    );
    return rows[0] ? { createdAt: rows[0].created_at, lastPulledAt: rows[0].last_pulled_at } : null;
  }

  /** Storage use from the metadata: every distinct blob once, and each repository's linked blobs. */
  async storageUsage(limit: number): Promise<{ totalBytes: number; blobCount: number; repositories: Array<{ name: string; bytes: number }> }> {
    await foldRepositoryFigures(this.db);
    const [[total], top] = await Promise.all([
      this.db.query<{ bytes: bigint | null; n: bigint }>(`SELECT sum(size) AS bytes, count(*) AS n FROM blob`),
      this.db.query<{ name: string; size_bytes: bigint }>(
        `SELECT name, size_bytes FROM repository WHERE size_bytes > 0 ORDER BY size_bytes DESC, name DESC LIMIT $1`,
        [limit],
      ),
    ]);
    return {
      totalBytes: Number(total.bytes ?? 0),
      blobCount: Number(total.n),
      repositories: top.map((r) => ({ name: r.name, bytes: Number(r.size_bytes) })),
    };
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
      if (v.projectIds === "all") any.push("p.id IS NOT NULL");
      else if (v.projectIds.length) any.push(`p.id = ANY(${p.add(v.projectIds)}::int[])`);
      if (v.unowned || filter.mirrored === "all") any.push("p.id IS NULL");
      else if (filter.mirrored?.length) {
        any.push(`(p.id IS NULL AND (${filter.mirrored.map((prefix) => `starts_with(r.name, ${p.add(`${prefix}/`)})`).join(" OR ")}))`);
      }
      clauses.push(`(${any.join(" OR ")})`);
    }
    return clauses.join(" AND ");
  }
}

interface RepoDbRow {
  name: string;
  pushed_at: Date;
  size_bytes: bigint;
  tag_count: number;
  pull_count: bigint;
  last_pulled_at: Date | null;
  public: boolean | null;
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
