// How the collector talks to the database: raw SQL with $1-style parameters, either on its own
// (autocommit) or inside a transaction. Same SQL on Postgres and the embedded PGlite.
import { Prisma } from "../generated/prisma/client";
import type { Database } from "../metadata/database";

export type Query = <R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<R[]>;

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
}

/** Runs inside each batch's transaction (to record the batch with it), then again after its commit. */
export interface BatchHooks<T> {
  inBatch?: (q: Query, done: T[]) => Promise<void>;
  afterBatch?: (done: T[]) => Promise<void>;
}

/** Generous: a batch deletes its blobs' bytes inside its transaction, and storage may be slow. */
const TX_TIMEOUT_MS = 5 * 60_000;
/** Time to get a connection (Postgres) or PGlite's turn: pushes may keep the pool busy. */
const TX_MAX_WAIT_MS = 60_000;

export function gcDatabase(database: Database): GcDatabase {
  return {
    kind: database.kind,
    query: (sql, params) => database.query(sql, params),
    transaction: (fn, options = {}) =>
      database.prisma.$transaction(
        async (tx) => {
          const q: Query = <R>(sql: string, params: readonly unknown[] = []) => tx.$queryRawUnsafe<R[]>(sql, ...params);
          // The kept-set CTE's row estimates are wildly pessimistic; they would make Postgres JIT-compile
          // millisecond queries for tens of milliseconds, batch after batch.
          await q(`SET LOCAL jit = off`);
          return fn(q);
        },
        {
          timeout: TX_TIMEOUT_MS,
          maxWait: TX_MAX_WAIT_MS,
          // A dry run's several statements describe one consistent state. (PGlite has one session: moot.)
          isolationLevel: options.readOnlySnapshot
            ? Prisma.TransactionIsolationLevel.RepeatableRead
            : Prisma.TransactionIsolationLevel.ReadCommitted,
        },
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
