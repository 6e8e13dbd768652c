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
