// How the collector talks to the database: raw SQL with $1-style parameters, either on its own
// (autocommit) or inside a transaction. Same SQL on Postgres and the embedded PGlite.
import type { Database, Query } from "./database";
import { tryLockCollector, type ReleaseLock } from "./gc-lock";

export type { Query };

export interface GcDatabase {
  readonly kind: Database["kind"];
  /** One statement, autocommitted. */
  query: Query;
  /**
   * `fn` in one READ COMMITTED transaction (each statement sees what committed before it started, which
   * the collector's lock-then-recheck pattern relies on). Never call `query` inside `fn`: on PGlite it
   * would wait for this very transaction.
   */
  transaction<T>(fn: (q: Query) => Promise<T>, options?: { readOnlySnapshot?: boolean }): Promise<T>;
  /** The collector lock if free, else null (gc-lock.ts). */
  tryLockCollector(): Promise<ReleaseLock | null>;
}

export function gcDatabase(database: Database): GcDatabase {
  return {
    kind: database.kind,
    query: (sql, params) => database.query(sql, params),
    tryLockCollector: () => tryLockCollector(database),
    transaction: (fn, options = {}) =>
      database.transaction(
        async (q) => {
          // The kept-set CTE's row estimates are wildly pessimistic; they would make Postgres JIT-compile
          // millisecond queries for tens of milliseconds, batch after batch.
          await q(`SET LOCAL jit = off`);
          return fn(q);
        },
        // A dry run's several statements describe one consistent state. (PGlite has one session: moot.)
        { isolation: options.readOnlySnapshot ? "repeatable read" : "read committed" },
      ),
  };
}

/** A count or size from either backend: bigint (int8), number, numeric as string or Decimal. */
export function num(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  return Number(String(value));
}
