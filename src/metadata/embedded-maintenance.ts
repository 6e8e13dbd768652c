// Autovacuum's work, for the embedded database, which has none: PGlite runs PostgreSQL inside this process,
// without background workers. Without ANALYZE the planner never learns how big the tables are or how their
// values spread (and the plans trigger functions cache are never replaced as the tables grow); without
// VACUUM the room of deleted and updated rows is never reused, and transaction ids are never frozen, which a
// long-running registry needs before PostgreSQL stops accepting writes to protect against their wraparound.
import type { Logger } from "pino";
import type { Database } from "./database";

export interface EmbeddedMaintenanceOptions {
  /** First ANALYZE after start, once the first requests have given the tables some content. */
  firstAnalyzeAfterMs?: number;
  analyzeEveryMs?: number;
  vacuumEveryMs?: number;
}

/**
 * Runs ANALYZE and VACUUM on a timer. Each blocks the event loop while it runs (PGlite is in-process), so
 * they run rarely: a few hundred milliseconds every few minutes on a large registry.
 */
export function maintainEmbeddedDatabase(
  db: Pick<Database, "query">,
  logger: Logger,
  options: EmbeddedMaintenanceOptions = {},
): { close(): Promise<void> } {
  const { firstAnalyzeAfterMs = 60_000, analyzeEveryMs = 10 * 60_000, vacuumEveryMs = 60 * 60_000 } = options;
  let running: Promise<void> = Promise.resolve();
  let closed = false;
  const run = (statement: "ANALYZE" | "VACUUM (ANALYZE)") => {
    running = running
      .then(async () => {
        if (closed) return;
        const started = Date.now();
        await db.query(statement);
        logger.debug({ statement, ms: Date.now() - started }, "embedded database maintenance");
      })
      .catch((err: unknown) => logger.warn({ err, statement }, "embedded database maintenance failed"));
  };
  const timers = [
    setTimeout(() => run("ANALYZE"), firstAnalyzeAfterMs),
    setInterval(() => run("ANALYZE"), analyzeEveryMs),
    setInterval(() => run("VACUUM (ANALYZE)"), vacuumEveryMs),
  ];
  for (const t of timers) t.unref();
  return {
    close: async () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      await running;
    },
  };
}
