// Which database failures are the data's fault (retry row by row) and which are outages (keep and retry
// later): classified from the errors a real embedded Postgres (PGlite) and a real pg pool raise.
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { isDataError } from "../../src/metadata/sql-errors";

jest.setTimeout(60_000);

let db: PGlite;

beforeAll(async () => {
  db = await PGlite.create();
  await db.exec("CREATE TABLE t (id int PRIMARY KEY, name varchar(4), doc jsonb)");
});
afterAll(() => db?.close());

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

test.each([
  ["a NUL in text (22021)", "SELECT $1::text", ["a\u0000b"]],
  ["a NUL escape in jsonb (22P05)", "SELECT $1::jsonb", ['{"a":"\\u0000"}']],
  ["a string too long (22001)", "INSERT INTO t (id, name) VALUES (1, $1)", ["too long"]],
  ["a time out of range (22008)", "SELECT $1::timestamptz", ["294277-01-01T00:00:00Z"]],
])("%s is a data error", async (_what, sql, params) => {
  const err = await failure(() => db.query(sql, params));
  expect((err as { code?: string }).code).toMatch(/^22/);
  expect(isDataError(err)).toBe(true);
  // Wrapped by a layer above (e.g. a driver adapter), it is still recognised.
  expect(isDataError(new Error("wrapped", { cause: err }))).toBe(true);
});

test("a constraint violation (23505) is a data error", async () => {
  await db.query("INSERT INTO t (id) VALUES (2)");
  const err = await failure(() => db.query("INSERT INTO t (id) VALUES (2)"));
  expect((err as { code?: string }).code).toBe("23505");
  expect(isDataError(err)).toBe(true);
});

test("a syntax error, a refused connection and pg's pool timeout are not data errors", async () => {
  expect(isDataError(await failure(() => db.query("SELEC 1")))).toBe(false);
  // Port 1 on loopback: nothing listens there, so the connection is refused (ECONNREFUSED).
  const refused = new pg.Pool({ host: "127.0.0.1", port: 1, user: "x", database: "x", connectionTimeoutMillis: 5000 });
  const err = await failure(() => refused.query("SELECT 1"));
  await refused.end();
  expect((err as { code?: string }).code).toBe("ECONNREFUSED");
  expect(isDataError(err)).toBe(false);
  expect(isDataError(new Error("timeout exceeded when trying to connect"))).toBe(false);
  expect(isDataError(null)).toBe(false);
  expect(isDataError("22001")).toBe(false);
});
