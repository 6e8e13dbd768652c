// Applies prisma/migrations/<name>/migration.sql at start-up, recording them in Prisma's own
// `_prisma_migrations` table so that `prisma migrate deploy/status/resolve` (run elsewhere, where the
// native schema engine is available) agree with what Berth applied. The CLI cannot run here, and it could
// never reach the embedded PGlite anyway.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ClientBase } from "pg";
import type { PGlite } from "@electric-sql/pglite";

/**
 * One database session. It must be a single connection (a pg Client / PoolClient, or a PGlite
 * instance), not a pool: the advisory lock and BEGIN/COMMIT only mean something on one session.
 */
export interface SqlSession {
  /** One statement with $1-style parameters; resolves to its rows. */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** A script of any number of statements, without parameters (simple query protocol). */
  exec(sql: string): Promise<void>;
}

export function pgSession(client: ClientBase): SqlSession {
  return {
    query: async <R>(sql: string, params?: readonly unknown[]) =>
      (await client.query({ text: sql, values: params ? [...params] : undefined })).rows as R[],
    // No values => pg uses the simple protocol, which accepts several statements.
    exec: async (sql) => void (await client.query(sql)),
  };
}

export function pgliteSession(db: PGlite): SqlSession {
  return {
    query: async <R>(sql: string, params?: readonly unknown[]) =>
      (await db.query<R>(sql, params ? [...params] : undefined)).rows,
    exec: async (sql) => void (await db.exec(sql)),
  };
}

/** Same key as Prisma Migrate, so Berth and `prisma migrate deploy` also exclude each other. */
export const MIGRATION_LOCK_KEY = 72707369;

export class MigrationError extends Error {
  override name = "MigrationError";
}

export interface Migration {
  name: string;
  script: string;
  checksum: string;
}

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
}

/** The folder holding package.json, found upward from here: works from src/ (swc-jest) and dist/ (tsc). */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export function defaultMigrationsDir(): string {
  return path.join(packageRoot(), "prisma", "migrations");
}

/** Prisma's checksum: sha256 of the script, as 64 lower-case hex digits. */
export function migrationChecksum(script: string): string {
  return createHash("sha256").update(script, "utf8").digest("hex");
}

/**
 * Prisma's own comparison (schema-engine checksum.rs): tolerant of CRLF/LF conversion by git, and of the
 * non-zero-padded hex that old Prisma versions wrote.
 */
export function checksumMatches(script: string, recorded: string): boolean {
  const variants = [script, script.replace(/\r\n/g, "\n"), script.replace(/\n/g, "\r\n")];
  return variants.some((s) => {
    const digest = createHash("sha256").update(s, "utf8").digest();
    const hex =
      recorded.length === 64
        ? digest.toString("hex")
        : Array.from(digest, (b) => b.toString(16)).join(""); // the old unpadded format
    return hex === recorded;
  });
}

/** Migrations on disk, in name order (Prisma's order: the timestamp prefix makes it chronological). */
export function readMigrations(migrationsDir: string): Migration[] {
  if (!existsSync(migrationsDir)) throw new MigrationError(`migrations folder not found: ${migrationsDir}`);
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(migrationsDir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const script = readFileSync(path.join(migrationsDir, name, "migration.sql"), "utf8");
      return { name, script, checksum: migrationChecksum(script) };
    });
}

export interface MigrateOptions {
  /** How long to wait for another process's migration run before giving up. */
  lockTimeoutMs?: number;
  log?: (message: string) => void;
}

/**
 * Applies every pending migration, each in its own transaction, under a session advisory lock so that
 * processes starting together against one server migrate one at a time (the others then find nothing to
 * do). Returns the names applied. Refuses to start on a recorded migration that failed or whose
 * migration.sql has changed since it was applied: both need a human.
 */
export async function migrate(
  session: SqlSession,
  migrationsDir: string = defaultMigrationsDir(),
  options: MigrateOptions = {},
): Promise<string[]> {
  const migrations = readMigrations(migrationsDir);
  await acquireLock(session, options.lockTimeoutMs ?? 60_000);
  let succeeded = false;
  try {
    // Exactly the table `prisma migrate` creates (schema-engine, postgres flavour).
    await session.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`);
    const rows = await session.query<MigrationRow>(
      `SELECT id, checksum, migration_name, finished_at, rolled_back_at, logs
         FROM "_prisma_migrations" ORDER BY started_at`,
    );
    // Rows marked rolled back (`prisma migrate resolve --rolled-back`) no longer count, as in Prisma.
    const live = rows.filter((r) => r.rolled_back_at === null);

    const failed = live.find((r) => r.finished_at === null);
    if (failed) {
      throw new MigrationError(
        `migration ${failed.migration_name} is recorded as started but not finished (it failed, possibly ` +
          `half-applied). Repair the database by hand, then run \`prisma migrate resolve --applied ` +
          `${failed.migration_name}\` or \`--rolled-back ${failed.migration_name}\`` +
          (failed.logs ? `. Recorded error: ${failed.logs}` : ""),
      );
    }

    const applied = new Map(live.map((r) => [r.migration_name, r]));
    for (const m of migrations) {
      const row = applied.get(m.name);
      if (row && !checksumMatches(m.script, row.checksum)) {
        throw new MigrationError(
          `migration ${m.name} was modified after it was applied: recorded checksum ${row.checksum}, ` +
            `migration.sql now has ${m.checksum}. Restore the original file and add a new migration instead.`,
        );
      }
    }
    // Recorded names unknown here come from a newer Berth; like `prisma migrate deploy`, ignore them.

    const done: string[] = [];
    for (const m of migrations.filter((x) => !applied.has(x.name))) {
      options.log?.(`applying migration ${m.name}`);
      await applyOne(session, m);
      done.push(m.name);
    }
    succeeded = true;
    return done;
  } finally {
    // A failed unlock must not hide the error that got us here (the session may be dead, which frees
    // the lock anyway).
    await session.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch((err: unknown) => {
      if (succeeded) throw err;
    });
  }
}

async function acquireLock(session: SqlSession, timeoutMs: number): Promise<void> {
  // Polling pg_try_advisory_lock rather than blocking in pg_advisory_lock: a lock left by a wedged
  // session (e.g. behind a pooler) becomes a clear start-up error instead of a silent hang.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await session.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [
      MIGRATION_LOCK_KEY,
    ]);
    if (row?.ok) return;
    if (Date.now() >= deadline) {
      throw new MigrationError(
        `timed out after ${timeoutMs} ms waiting for the migration lock (pg advisory lock ` +
          `${MIGRATION_LOCK_KEY}); another Berth or \`prisma migrate\` is migrating this database, or ` +
          `a stale session still holds the lock`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function applyOne(session: SqlSession, m: Migration): Promise<void> {
  // Unlike the CLI, the row and the script commit together: a failure leaves neither behind, so the next
  // start simply retries (and fails again with the same message) instead of needing `migrate resolve`.
  // The finished row is what `prisma migrate deploy` writes on success: applied_steps_count 1.
  const id = randomUUID();
  await session.exec("BEGIN");
  try {
    await session.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, clock_timestamp(), 0)`,
      [id, m.checksum, m.name],
    );
    await session.exec(m.script);
    // clock_timestamp(), not now(): now() is frozen at the transaction start.
    await session.query(
      `UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await session.exec("COMMIT");
  } catch (err) {
    await session.exec("ROLLBACK").catch(() => undefined); // the connection may be gone; report the cause
    throw new MigrationError(`migration ${m.name} failed and was rolled back: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
