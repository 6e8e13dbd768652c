// The gc_run table: one row per collection or dry run, updated as it goes. The report is stored as JSON;
// its shape is src/gc/report.ts's.
import { num, type GcDatabase, type Query } from "./gc-sql";

export interface GcRunRow {
  id: number;
  trigger: string;
  dryRun: boolean;
  status: string;
  phase: string | null;
  options: Record<string, unknown>;
  startedAt: Date;
  finishedAt: Date | null;
  tagsDeleted: number;
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  uploadsDeleted: number;
  bytesFreed: number;
  imagesEvicted: number;
  errors: string[] | null;
  report: unknown;
}

/** What one batch deleted: added to the run's row inside the batch's own transaction. */
export interface RunDelta {
  tags?: number;
  manifests?: number;
  links?: number;
  blobs?: number;
  uploads?: number;
  bytes?: number;
  evicted?: number;
}

type Row = {
  id: number; trigger: string; dry_run: boolean; status: string; phase: string | null; options: Record<string, unknown>;
  started_at: Date; finished_at: Date | null; tags_deleted: number; manifests_deleted: number; links_deleted: number;
  blobs_deleted: number; uploads_deleted: number; bytes_freed: bigint; images_evicted: number; errors: string[] | null; report: unknown;
};

export class GcRunStore {
  constructor(private readonly db: GcDatabase) {}

  async start(trigger: string, dryRun: boolean, options: Record<string, unknown>): Promise<{ id: number; startedAt: Date }> {
    const [row] = await this.db.query<{ id: number; started_at: Date }>(
      `INSERT INTO gc_run (trigger, dry_run, status, phase, options) VALUES ($1, $2, 'running', 'starting', $3::jsonb)
       RETURNING id, started_at`,
      [trigger, dryRun, JSON.stringify(options)],
    );
    return { id: row.id, startedAt: row.started_at };
  }

  /** Runs left "running" by a collector that died. Only call while holding the collector lock. */
  async markInterrupted(): Promise<number[]> {
    const rows = await this.db.query<{ id: number }>(
      `UPDATE gc_run SET status = 'interrupted', finished_at = clock_timestamp()
       WHERE status = 'running' RETURNING id`,
    );
    return rows.map((r) => r.id);
  }

  async phase(id: number, phase: string): Promise<void> {
    await this.db.query(`UPDATE gc_run SET phase = $2 WHERE id = $1`, [id, phase]);
  }

  async finish(id: number, status: string, errors: string[], report: unknown): Promise<void> {
    await this.db.query(
      `UPDATE gc_run SET status = $2, phase = 'done', finished_at = clock_timestamp(), errors = $3::jsonb, report = $4::jsonb
       WHERE id = $1`,
      [id, status, errors.length ? JSON.stringify(errors) : null, JSON.stringify(report)],
    );
  }

  /** Drops the item logs of all but the newest LOG_RUNS_KEPT runs. Call at a run's start, under the collector lock. */
  async pruneLogs(): Promise<void> {
    await this.db.query(
      `DELETE FROM gc_run_log WHERE run_id < (SELECT coalesce(min(id), 0) FROM (SELECT id FROM gc_run ORDER BY id DESC LIMIT $1) newest)`,
      [LOG_RUNS_KEPT],
    );
  }

  /** A page of the run's item log, in deletion order, after the entry `after` (0: from the start). */
  async logPage(runId: number, after: number, limit: number): Promise<{ entries: GcLogEntry[]; last: number }> {
    const rows = await this.db.query<{ id: bigint; kind: GcLogKind; repository: string | null; digest: string; tag: string | null; bytes: bigint }>(
      `SELECT id, kind, repository, digest, tag, bytes FROM gc_run_log WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [runId, after, limit],
    );
    return {
      entries: rows.map((r) => ({ kind: r.kind, repository: r.repository, digest: r.digest, tag: r.tag, bytes: num(r.bytes) })),
      last: rows.length ? num(rows[rows.length - 1].id) : after,
    };
  }

  async list(limit: number): Promise<GcRunRow[]> {
    const rows = await this.db.query<Row>(`SELECT * FROM gc_run ORDER BY id DESC LIMIT $1`, [limit]);
    return rows.map(toRecord);
  }

  async get(id: number): Promise<GcRunRow | null> {
    const rows = await this.db.query<Row>(`SELECT * FROM gc_run WHERE id = $1`, [id]);
    return rows.length ? toRecord(rows[0]) : null;
  }
}

function toRecord(r: Row): GcRunRow {
  return {
    id: r.id,
    trigger: r.trigger,
    dryRun: r.dry_run,
    status: r.status,
    phase: r.phase,
    options: r.options,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    tagsDeleted: r.tags_deleted,
    manifestsDeleted: r.manifests_deleted,
    linksDeleted: r.links_deleted,
    blobsDeleted: r.blobs_deleted,
    uploadsDeleted: r.uploads_deleted,
    bytesFreed: num(r.bytes_freed),
    imagesEvicted: r.images_evicted,
    errors: r.errors,
    report: r.report,
  };
}

/**
 * How many runs keep their item log. A table rather than files in storage: the rows commit with the
 * deletions they describe, every replica reads them without shared files, and the bound is by run count.
 */
export const LOG_RUNS_KEPT = 50;

export type GcLogKind = "tag" | "manifest" | "link" | "blob" | "upload";

/** One deleted item. `digest` is an upload's session id for kind "upload"; `tag` is set for kind "tag". */
export interface GcLogEntry {
  kind: GcLogKind;
  repository: string | null;
  digest: string;
  tag: string | null;
  bytes: number;
}

/** What a sweep batch deleted, for the run's log; the repository by id, named from its row at insert. */
export interface DeletedItem {
  kind: GcLogKind;
  repositoryId?: number | null;
  digest: string;
  tag?: string | null;
  bytes?: number;
}

/** Appends a batch's deletions to the run's log, within the batch's transaction (see addToRun). */
export async function logDeleted(q: Query, id: number, items: readonly DeletedItem[]): Promise<void> {
  if (!items.length) return;
  await q(
    `INSERT INTO gc_run_log (run_id, kind, repository, digest, tag, bytes)
     SELECT $1, x.kind, r.name, x.digest, x.tag, x.bytes
     FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::int8[]) WITH ORDINALITY AS x(kind, repository_id, digest, tag, bytes, n)
     LEFT JOIN repository r ON r.id = x.repository_id
     ORDER BY x.n`,
    [
      id,
      items.map((i) => i.kind),
      items.map((i) => i.repositoryId ?? null),
      items.map((i) => i.digest),
      items.map((i) => i.tag ?? null),
      items.map((i) => i.bytes ?? 0),
    ],
  );
}

/**
 * Adds a batch's deletions to the run's counters, within the batch's transaction: the counters commit
 * or roll back with the deletions, so a run's row stays exact even when its process is killed.
 */
export async function addToRun(q: Query, id: number, d: RunDelta): Promise<void> {
  await q(
    `UPDATE gc_run SET tags_deleted = tags_deleted + $2, manifests_deleted = manifests_deleted + $3,
            links_deleted = links_deleted + $4, blobs_deleted = blobs_deleted + $5,
            uploads_deleted = uploads_deleted + $6, bytes_freed = bytes_freed + $7,
            images_evicted = images_evicted + $8 WHERE id = $1`,
    [id, d.tags ?? 0, d.manifests ?? 0, d.links ?? 0, d.blobs ?? 0, d.uploads ?? 0, d.bytes ?? 0, d.evicted ?? 0],
  );
}
