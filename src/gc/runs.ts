// The gc_run table: one row per collection or dry run, updated as it goes.
import type { GcReport, RunStatus, RunTrigger } from "./report";
import { num, type GcDatabase } from "./sql";

export interface GcRunRecord {
  id: number;
  trigger: RunTrigger;
  dryRun: boolean;
  status: RunStatus | "running";
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
  errors: string[] | null;
  report: GcReport | null;
}

export interface RunProgress {
  phase: string;
  tagsDeleted: number;
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  uploadsDeleted: number;
  bytesFreed: number;
}

type Row = {
  id: number; trigger: string; dry_run: boolean; status: string; phase: string | null; options: Record<string, unknown>;
  started_at: Date; finished_at: Date | null; tags_deleted: number; manifests_deleted: number; links_deleted: number;
  blobs_deleted: number; uploads_deleted: number; bytes_freed: bigint; errors: string[] | null; report: GcReport | null;
};

export class GcRuns {
  constructor(private readonly db: GcDatabase) {}

  async start(trigger: RunTrigger, dryRun: boolean, options: Record<string, unknown>): Promise<{ id: number; startedAt: Date }> {
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

  async progress(id: number, p: RunProgress): Promise<void> {
    await this.db.query(
      `UPDATE gc_run SET phase = $2, tags_deleted = $3, manifests_deleted = $4, links_deleted = $5, blobs_deleted = $6,
              uploads_deleted = $7, bytes_freed = $8 WHERE id = $1`,
      [id, p.phase, p.tagsDeleted, p.manifestsDeleted, p.linksDeleted, p.blobsDeleted, p.uploadsDeleted, p.bytesFreed],
    );
  }

  async finish(id: number, status: RunStatus, p: RunProgress, errors: string[], report: GcReport): Promise<void> {
    await this.progress(id, p);
    await this.db.query(
      `UPDATE gc_run SET status = $2, finished_at = clock_timestamp(), errors = $3::jsonb, report = $4::jsonb WHERE id = $1`,
      [id, status, errors.length ? JSON.stringify(errors) : null, JSON.stringify(report)],
    );
  }

  async list(limit = 20): Promise<GcRunRecord[]> {
    const rows = await this.db.query<Row>(`SELECT * FROM gc_run ORDER BY id DESC LIMIT $1`, [limit]);
    return rows.map(toRecord);
  }

  async get(id: number): Promise<GcRunRecord | null> {
    const rows = await this.db.query<Row>(`SELECT * FROM gc_run WHERE id = $1`, [id]);
    return rows.length ? toRecord(rows[0]) : null;
  }
}

function toRecord(r: Row): GcRunRecord {
  return {
    id: r.id,
    trigger: r.trigger as RunTrigger,
    dryRun: r.dry_run,
    status: r.status as GcRunRecord["status"],
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
    errors: r.errors,
    report: r.report,
  };
}
