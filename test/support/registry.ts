// Berth started for a test: the real app on a random loopback port, a fresh temp data dir for storage, and
// either a fresh database on the run's real Postgres or the embedded PGlite. stop() removes all of it.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../../src/config";
import { createDeps, createLogger, type Deps } from "../../src/deps";
import { startServer } from "../../src/server";
import { createTestDatabase } from "./postgres";

export type DatabaseKind = "postgres" | "embedded";

export interface TestRegistry {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** "127.0.0.1:PORT" */
  host: string;
  dataDir: string;
  deps: Deps;
  stop(): Promise<void>;
}

export async function startTestRegistry(options: { database?: DatabaseKind; config?: Record<string, unknown> } = {}): Promise<TestRegistry> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-test-"));
  const database = options.database === "embedded" ? null : await createTestDatabase();
  try {
    const config = parseConfig({
      listen: "127.0.0.1:0",
      dataDir,
      logLevel: process.env.BERTH_TEST_LOG_LEVEL ?? "silent",
      // Test data is thrown away: skip fsync so the suite stays quick on a shared disk.
      storage: { fsync: false },
      shutdownTimeoutSeconds: 5,
      ...(database ? { databaseUrl: database.url } : {}),
      ...options.config,
    });
    const deps = await createDeps(config, createLogger(config));
    const running = await startServer(deps);
    return {
      url: `http://${running.address}`,
      host: running.address,
      dataDir,
      deps,
      async stop() {
        await running.stop();
        await database?.drop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
