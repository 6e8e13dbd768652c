// The embedded database has no autovacuum: Berth analyzes and vacuums it on a timer
// (src/metadata/embedded-maintenance.ts). Checked through what each leaves in the catalog: ANALYZE records
// the table's row count, VACUUM marks the pages it cleaned all-visible.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { openDatabase, type Database } from "../../src/metadata/database";
import { maintainEmbeddedDatabase } from "../../src/metadata/embedded-maintenance";
import { waitFor } from "../support/wait-for";

describe("embedded database maintenance", () => {
  let dataDir: string;
  let db: Database;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-maintenance-"));
    db = await openDatabase({ dataDir });
  });

  afterAll(async () => {
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const catalog = async () =>
    (await db.query<{ reltuples: number; relallvisible: number }>(`SELECT reltuples::float8 AS reltuples, relallvisible FROM pg_class WHERE relname = 'audit_event'`))[0]!;

  test("analyzes, then vacuums, on its timers; close() stops it", async () => {
    await db.query(
      `INSERT INTO audit_event (at, actor, action, repository, reference, success)
       SELECT now(), 'someone', 'login', NULL, NULL, true FROM generate_series(1, 3000)`,
    );
    await db.query(`DELETE FROM audit_event WHERE id % 2 = 0`);
    expect(await catalog()).toMatchObject({ reltuples: -1, relallvisible: 0 }); // never analyzed nor vacuumed

    const maintenance = maintainEmbeddedDatabase(db, pino({ level: "silent" }), { firstAnalyzeAfterMs: 10, analyzeEveryMs: 60_000, vacuumEveryMs: 400 });
    await waitFor("ANALYZE counted the rows", async () => (await catalog()).reltuples === 1500, { timeoutMs: 10_000 });
    await waitFor("VACUUM marked pages all-visible", async () => (await catalog()).relallvisible > 0, { timeoutMs: 10_000 });
    await maintenance.close();

    await db.query(`INSERT INTO audit_event (at, actor, action, success) SELECT now(), 'x', 'login', true FROM generate_series(1, 500)`);
    await new Promise((r) => setTimeout(r, 900));
    expect((await catalog()).reltuples).toBe(1500); // no ANALYZE after close
  });
});
