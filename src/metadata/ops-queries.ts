import type { Database } from "./database";

/** What health checks and metrics read from the database. */
export interface OpsQueries {
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  /** Upload sessions open, across all replicas. */
  openUploadSessions(): Promise<number>;
}

export class SqlOpsQueries implements OpsQueries {
  constructor(private readonly db: Pick<Database, "query">) {}

  async ping(): Promise<void> {
    await this.db.query("SELECT 1");
  }

  async openUploadSessions(): Promise<number> {
    const [row] = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM upload");
    return Number(row.n);
  }
}
