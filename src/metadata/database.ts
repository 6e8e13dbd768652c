// Opens Berth's metadata database: a real PostgreSQL server when a URL is given, otherwise an embedded
// PGlite (Postgres compiled to WASM) stored under the data dir. Either way migrations are applied first,
// and the same generated Prisma client and the same raw SQL work on both.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client";
import { createEmbeddedCluster, PGLITE_START_PARAMS } from "./pglite-init";
import { migrate, pgliteSession, pgSession, type MigrateOptions, type SqlSession } from "./migrator";

/** Raw parameterised SQL ($1, $2…); resolves to the rows, typed as described at Database.query. */
export type Query = <R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<R[]>;

export interface TransactionOptions {
  /** Default READ COMMITTED: each statement sees what committed before it began. */
  isolation?: "read committed" | "repeatable read";
}

export interface ListenHandlers {
  message(payload: string): void;
  listening(): void;
  lost(): void;
}

export interface Database {
  readonly kind: "postgres" | "embedded";
  readonly prisma: PrismaClient;
  /**
   * Raw parameterised SQL ($1, $2…) for hot paths, bypassing the ORM; resolves to the rows. Results are
   * typed alike on both backends: int8 → bigint (as Prisma's BigInt), bytea → Buffer, timestamptz → Date,
   * json/jsonb → parsed, numeric → string.
   * Never call it (or `prisma` itself) inside a `prisma.$transaction` callback: use the callback's `tx`.
   * On PGlite, which has one connection, it would wait for that very transaction to end.
   */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /**
   * `fn` in one transaction on one connection, with raw SQL as `q` (typed like `query`): committed when
   * `fn` resolves, rolled back when it throws. Cheaper than an ORM interactive transaction (no query
   * compilation, no transaction bookkeeping), so write paths that need several statements use it.
   * Never call `query` (or `prisma`) inside `fn`: on PGlite it would wait for this very transaction.
   */
  transaction<T>(fn: (q: Query) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * One session of its own, for session-scoped state such as advisory locks: a pooled connection taken
   * out of the pool until release() (Postgres), or PGlite's only session (embedded, where session locks
   * are therefore shared by everything in the process). Results are raw driver values. Pass release() an
   * error when the session may be broken, so the connection is destroyed rather than reused.
   */
  session(): Promise<{ session: SqlSession; release(broken?: Error): void }>;
  /**
   * Delivers the payload of every notification on `channel` (pg_notify) from any process using this
   * database. `lost` says messages may have been missed: the listening connection broke (it reconnects by
   * itself, every second, and says `listening` again). Resolves once the first attempt has succeeded or failed.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<{ close(): Promise<void> }>;
  /** Releases connections / closes PGlite and its lock. Idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres:// URL; without it the embedded database under `<dataDir>/db` is used. */
  url?: string;
  dataDir: string;
  /** Pool size for a real server. */
  poolMax?: number;
  migrationsDir?: string;
  migrate?: MigrateOptions;
  /**
   * Errors of idle pooled connections (server restart, network cut). pg already drops the broken
   * connection and the next query opens a new one, so the default only ignores them instead of letting
   * an unhandled 'error' event kill the process.
   */
  onPoolError?: (err: Error) => void;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts) : openEmbedded(opts);
}

const INT8 = 20;
const BYTEA = 17;

// Per query, not per pool: the pool is shared with @prisma/adapter-pg, which relies on its own parsers.
const pgRawTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8 ? (v: string) => BigInt(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

async function openPostgres(url: string, opts: OpenDatabaseOptions): Promise<Database> {
  const schema = new URL(url).searchParams.get("schema");
  if (schema && schema !== "public") {
    // The migrator and raw SQL use the connection's search_path; only the default schema is supported.
    throw new Error(`database URL: ?schema=${schema} is not supported (only the public schema)`);
  }
  const pool = new pg.Pool({ connectionString: url, max: opts.poolMax ?? 10 });
  pool.on("error", opts.onPoolError ?? (() => undefined));
  try {
    // The advisory lock is per session, so the migrator needs one dedicated connection, not the pool.
    const client = await pool.connect();
    let failure: Error | undefined;
    try {
      await migrate(pgSession(client), opts.migrationsDir, opts.migrate);
    } catch (err) {
      failure = err as Error;
      throw err;
    } finally {
      client.release(failure); // destroy rather than reuse a connection left in an unknown state
    }
  } catch (err) {
    await pool.end();
    throw err;
  }

  // Given our pool, the adapter does not end it on $disconnect (disposeExternalPool defaults to false).
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    kind: "postgres",
    prisma,
    query: async <R>(sql: string, params?: readonly unknown[]) =>
      (await pool.query({ text: sql, values: params ? [...params] : undefined, types: pgRawTypes })).rows as R[],
    transaction: async <T>(fn: (q: Query) => Promise<T>, options: TransactionOptions = {}) => {
      const client = await pool.connect();
      const q: Query = async <R>(sql: string, params?: readonly unknown[]) =>
        (await client.query({ text: sql, values: params ? [...params] : undefined, types: pgRawTypes })).rows as R[];
      try {
        await client.query(options.isolation === "repeatable read" ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN");
        const result = await fn(q);
        await client.query("COMMIT");
        client.release();
        return result;
      } catch (err) {
        // A connection whose ROLLBACK fails is in an unknown state: destroy it rather than pool it.
        const broken = await client.query("ROLLBACK").then(
          () => undefined,
          (rollbackErr: Error) => rollbackErr,
        );
        client.release(broken);
        throw err;
      }
    },
    listen: (channel, handlers) => listenPostgres(url, channel, handlers),
    session: async () => {
      const client = await pool.connect();
      return { session: pgSession(client), release: (broken?: Error) => client.release(broken) };
    },
    close: once(async () => {
      await prisma.$disconnect();
      await pool.end();
    }),
  };
}

const pgliteRawParsers = {
  [INT8]: (v: string) => BigInt(v),
  [BYTEA]: (v: string) => Buffer.from(v.slice(2), "hex"), // text format is "\x" + hex
};

async function openEmbedded(opts: OpenDatabaseOptions): Promise<Database> {
  const dir = path.join(path.resolve(opts.dataDir), "db");
  await mkdir(dir, { recursive: true });
  // PGlite does not lock its directory: a second instance on it (another process, or a forgotten one in
  // this process) would happily open it and the two would corrupt each other.
  const unlock = await lockDir(`${dir}.lock`);
  let pglite: PGlite | undefined;
  try {
    await createEmbeddedCluster(dir, { migrationsDir: opts.migrationsDir });
    pglite = await PGlite.create(dir, { startParams: [...PGlite.defaultStartParams, ...PGLITE_START_PARAMS] }).catch((err: NodeJS.ErrnoException) => {
      // PGlite's Emscripten loader does `await import("module")`, which code run inside a vm context
      // (jest) may only do when node has --experimental-vm-modules. Plain `node` is unaffected.
      if (err?.code !== "ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG") throw err;
      throw new Error(
        "the embedded database (PGlite) cannot load inside a vm context without node's " +
          "--experimental-vm-modules; under jest run `NODE_OPTIONS=--experimental-vm-modules jest` (npm test does)",
        { cause: err },
      );
    });
    await migrate(pgliteSession(pglite), opts.migrationsDir, opts.migrate);
  } catch (err) {
    await pglite?.close().catch(() => undefined);
    await unlock();
    throw err;
  }
  const db = pglite;

  // PGlite is one connection; it serializes everything on its own transaction mutex: the adapter's
  // interactive transaction holds it from BEGIN to COMMIT, and any other query or transaction (from
  // Prisma or `query` below) waits for it, so transactions never interleave and no extra wrapper is needed.
  // The wait counts against Prisma's `maxWait` (time to start a transaction, default 2 s), so allow for
  // queueing behind other transactions. Isolation levels are moot with a single connection (the adapter's
  // SET TRANSACTION even runs before its BEGIN, where Postgres ignores it).
  const prisma = new PrismaClient({
    adapter: new PrismaPGlite(db),
    transactionOptions: { maxWait: 10_000 },
  });
  return {
    kind: "embedded",
    prisma,
    query: async <R>(sql: string, params?: readonly unknown[]) =>
      (await db.query<R>(sql, params ? [...params] : undefined, { parsers: pgliteRawParsers })).rows,
    // PGlite's transaction() holds its transaction mutex throughout, which every other query waits for.
    transaction: <T>(fn: (q: Query) => Promise<T>, options: TransactionOptions = {}) =>
      db.transaction(async (tx) => {
        if (options.isolation === "repeatable read") await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
        return fn(async <R>(sql: string, params?: readonly unknown[]) =>
          (await tx.query<R>(sql, params ? [...params] : undefined, { parsers: pgliteRawParsers })).rows,
        );
      }),
    // One process, one connection: nothing can be missed, so the listener is never lost.
    listen: async (channel, handlers) => {
      const unlisten = await db.listen(channel, (payload) => handlers.message(payload));
      handlers.listening();
      return { close: () => unlisten() };
    },
    session: async () => ({ session: pgliteSession(db), release: () => undefined }),
    close: once(async () => {
      try {
        await prisma.$disconnect();
        await db.close(); // flushes and releases the WASM instance; the dir can then be reopened
      } finally {
        await unlock();
      }
    }),
  };
}

/** A connection of its own that LISTENs, replaced a second after it breaks, until closed. */
async function listenPostgres(url: string, channel: string, handlers: ListenHandlers): Promise<{ close(): Promise<void> }> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
  let current: pg.Client | null = null;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    let gone = false;
    const lose = () => {
      if (gone) return;
      gone = true;
      if (current === client) current = null;
      client.end().catch(() => undefined);
      if (closed) return;
      handlers.lost();
      retry = setTimeout(() => void connect(), 1000);
      retry.unref();
    };
    client.on("notification", (n) => n.channel === channel && handlers.message(n.payload ?? ""));
    client.on("error", lose);
    client.on("end", lose);
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch {
      return lose();
    }
    if (closed) return void client.end().catch(() => undefined);
    current = client;
    handlers.listening();
  };
  await connect();
  return {
    close: async () => {
      closed = true;
      clearTimeout(retry);
      await current?.end().catch(() => undefined);
    },
  };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

// Lock files held by this process: a lock file bearing our own pid that is not in here was left by an
// earlier process that had the same pid (typical for pid 1 in a container) and is stale.
const heldLocks = new Set<string>();

async function lockDir(lockPath: string): Promise<() => Promise<void>> {
  const target = lockPath.replace(/\.lock$/, "");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(lockPath, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      heldLocks.add(lockPath);
      return once(async () => {
        heldLocks.delete(lockPath);
        await rm(lockPath, { force: true });
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
    if (heldLocks.has(lockPath)) {
      throw new Error(`embedded database ${target} is already open in this process`);
    }
    if (pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new Error(`embedded database ${target} is in use by process ${pid}`);
    }
    await rm(lockPath, { force: true }); // stale: its process is gone
  }
  throw new Error(`cannot lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}
