// Berth started for a test: the real app on a random loopback port, a fresh temp data dir for storage, and
// either a fresh database on the run's real Postgres or the embedded PGlite. stop() removes all of it.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { parseConfig, type Config } from "../../src/config";
import { createDeps, createLogger, type Deps } from "../../src/deps";
import { startServer, type RunningServer } from "../../src/server";
import { createTestDatabase } from "./postgres";

export type DatabaseKind = "postgres" | "embedded";

export interface TestRegistry {
  /** "http://127.0.0.1:PORT", or https:// when the config has tls (changes on restart) */
  url: string;
  /** "127.0.0.1:PORT" (changes on restart) */
  host: string;
  dataDir: string;
  /** The plain-HTTP redirect listener (config tls.redirectListen), when there is one. */
  redirectAddress?: string;
  deps: Deps;
  /** Stops the server as a SIGTERM would, then starts a new one on the same data dir and database. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestRegistryOptions {
  database?: DatabaseKind;
  config?: Record<string, unknown>;
  /** Where the server logs (default: silent, or BERTH_TEST_LOG_LEVEL to stdout). */
  logger?: Logger;
}

export async function startTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-test-"));
  const database = options.database === "embedded" ? null : await createTestDatabase();
  const cleanup = async () => {
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const config = parseConfig({
      listen: "127.0.0.1:0",
      dataDir,
      logLevel: process.env.BERTH_TEST_LOG_LEVEL ?? "silent",
      // Test data is thrown away: skip fsync so the suite stays quick on a shared disk.
      storage: { fsync: false },
      shutdownTimeoutSeconds: 5,
      // Auth has its own tests; the API suites run against an open registry unless they ask otherwise.
      auth: { enabled: false },
      ...(database ? { databaseUrl: database.url } : {}),
      ...options.config,
    });
    const logger = options.logger ?? createLogger(config);
    let running = await start(config, logger);
    const registry: TestRegistry = {
      url: `${running.protocol}://${running.address}`,
      host: running.address,
      redirectAddress: running.redirectAddress,
      dataDir,
      deps: running.deps,
      async restart() {
        await running.stop();
        running = await start(config, logger);
        Object.assign(registry, { url: `${running.protocol}://${running.address}`, host: running.address, redirectAddress: running.redirectAddress, deps: running.deps });
      },
      async stop() {
        await running.stop();
        await cleanup();
      },
    };
    return registry;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function start(config: Config, logger: Logger): Promise<RunningServer & { deps: Deps }> {
  const deps = await createDeps(config, logger);
  try {
    return { ...(await startServer(deps)), deps };
  } catch (err) {
    await deps.close();
    throw err;
  }
}
