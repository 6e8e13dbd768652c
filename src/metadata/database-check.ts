// The database part of `berth doctor` (src/ops/doctor.ts): a connection of its own, read-only.
import { existsSync } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { defaultMigrationsDir, pgliteSession, pgSession, readMigrations, type SqlSession } from "./migrator";

export interface DatabaseTarget {
  /** postgres:// URL; without it, the embedded database under `<dataDir>/db`. */
  url?: string;
  /** The URL as it may be printed (password hidden). */
  where: string;
  dataDir: string;
  timeoutMs: number;
  /** Text for a connection failure. */
  describe: (err: unknown) => string;
}

type Report = (severity: "ok" | "warn", message: string) => void;

/** Further read-only checks on an up-to-date schema (e.g. of stored settings). */
export type SchemaInspection = (session: Pick<SqlSession, "query">) => Promise<void>;

/**
 * Checks, changing nothing, that the database answers and how its schema compares with the migrations.
 * An embedded database open in a running Berth is left alone (PGlite is single-process).
 */
export async function probeDatabase(target: DatabaseTarget, add: Report, inspect?: SchemaInspection): Promise<void> {
  const { timeoutMs, describe } = target;
  if (target.url) {
    const where = target.where;
    const client = new pg.Client({ connectionString: target.url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
    try {
      await client.connect();
    } catch (err) {
      throw new Error(`cannot connect to ${where}: ${describe(err)}`);
    }
    try {
      const [row] = (await client.query<{ version: string }>("SELECT current_setting('server_version') AS version")).rows;
      add("ok", `PostgreSQL ${row.version} at ${where} answers`);
      if (await checkMigrations(pgSession(client), add)) await inspect?.(pgSession(client));
    } finally {
      await client.end().catch(() => undefined);
    }
    return;
  }
  const dir = path.join(target.dataDir, "db");
  if (!existsSync(dir)) {
    add("ok", `embedded database ${dir} does not exist yet; the first start creates it`);
    return;
  }
  const lockPath = `${dir}.lock`;
  let lock;
  try {
    lock = await open(lockPath, "wx");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const pid = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
    if (pid > 0 && isAlive(pid)) {
      add("ok", `embedded database ${dir} is open in a running Berth (pid ${pid}); not checked further (use /readyz)`);
      return;
    }
    await rm(lockPath, { force: true });
    lock = await open(lockPath, "wx");
  }
  try {
    await lock.writeFile(String(process.pid));
    await lock.close();
    const { PGlite } = await import("@electric-sql/pglite");
    const db = await PGlite.create(dir);
    try {
      await db.query("SELECT 1");
      add("ok", `embedded database ${dir} opens and answers`);
      if (await checkMigrations(pgliteSession(db), add)) await inspect?.(pgliteSession(db));
    } finally {
      await db.close();
    }
  } finally {
    await rm(lockPath, { force: true });
  }
}

/** True when the schema is up to date. */
async function checkMigrations(session: SqlSession, add: Report): Promise<boolean> {
  const known = readMigrations(defaultMigrationsDir());
  const [exists] = await session.query<{ t: string | null }>(`SELECT to_regclass('"_prisma_migrations"')::text AS t`);
  if (!exists?.t) {
    add("warn", `no migrations applied yet (${known.length} pending); \`berth migrate\` or the next start applies them`);
    return false;
  }
  const rows = await session.query<{ migration_name: string; finished_at: Date | null; rolled_back_at: Date | null }>(
    `SELECT migration_name, finished_at, rolled_back_at FROM "_prisma_migrations"`,
  );
  const live = rows.filter((r) => r.rolled_back_at === null);
  const failed = live.filter((r) => r.finished_at === null);
  if (failed.length) throw new Error(`migration ${failed[0].migration_name} is recorded as started but not finished: repair it by hand (see berth migrate)`);
  const applied = new Set(live.map((r) => r.migration_name));
  const pending = known.filter((m) => !applied.has(m.name));
  if (pending.length) {
    add("warn", `${pending.length} migration(s) pending (${pending.map((m) => m.name).join(", ")}); the next start applies them`);
    return false;
  }
  add("ok", `schema up to date (${known.length} migrations)`);
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
