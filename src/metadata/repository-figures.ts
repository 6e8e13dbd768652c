// The per-repository figures the web UI sorts and shows (size, tag count, last push) reach the repository
// rows in two steps: triggers append changes to repository_figures_delta, and a fold adds them in.
// Updating the repository row directly would lock it until each pushing transaction commits, and pushes
// to one repository would queue behind each other (migration 20261125090000_repository_figures_delta).
import type { Logger } from "pino";
import type { Database } from "./database";

/** Adds the pending changes into the repository rows. Readers of the figures call it first. */
export async function foldRepositoryFigures(db: Pick<Database, "query">): Promise<void> {
  await db.query(`SELECT berth_fold_repository_figures()`);
}

/** Folds every `intervalMs`, so the delta table stays short while nobody reads the figures. */
export function foldRepositoryFiguresEvery(db: Pick<Database, "query">, intervalMs: number, logger: Logger): { close(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = foldRepositoryFigures(db).catch((err: unknown) => logger.warn({ err }, "folding repository figures failed"));
  }, intervalMs);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
