// One collector at a time: a Postgres session advisory lock across processes and replicas, plus an
// in-process flag, because PGlite has a single session in which advisory locks are re-entrant (they would
// let a scheduled run and an API call in the same process both in). A second process cannot open the
// embedded database at all (see lockDir in database.ts), so the flag is enough there.
import type { Database } from "./database";

/** Advisory lock key of the garbage collector (the migrator uses 72707369, Prisma Migrate's). */
export const GC_LOCK_KEY = 72707370;

const heldInProcess = new WeakSet<Database>();

export type ReleaseLock = () => Promise<void>;

/** The lock if free, else null. The lock is lost if the session dies; see src/gc/collector.ts on why that is safe. */
export async function tryLockCollector(database: Database): Promise<ReleaseLock | null> {
  if (heldInProcess.has(database)) return null;
  heldInProcess.add(database);
  let release: ((broken?: Error) => void) | undefined;
  try {
    const opened = await database.session();
    release = opened.release;
    const [row] = await opened.session.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [GC_LOCK_KEY]);
    if (!row?.ok) {
      release();
      heldInProcess.delete(database);
      return null;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      try {
        await opened.session.query("SELECT pg_advisory_unlock($1)", [GC_LOCK_KEY]);
        opened.release();
      } catch (err) {
        opened.release(err as Error); // a dead session has let go of its locks anyway
      } finally {
        heldInProcess.delete(database);
      }
    };
  } catch (err) {
    release?.(err as Error);
    heldInProcess.delete(database);
    throw err;
  }
}
