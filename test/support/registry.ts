// Berth started for a test: the real app on a random loopback port, a fresh temp data dir, blob storage on
// the filesystem (in the data dir) or on S3 (an s3rver started for it, or one given), and either a fresh
// database on the run's real Postgres or the embedded PGlite. stop() removes all of it.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { parseConfig, type Config } from "../../src/config";
import { createDeps, createLogger, type Deps, type DepsOptions } from "../../src/deps";
import { startServer, type RunningServer } from "../../src/server";
import { createTestDatabase } from "./postgres";
import { startS3Server, type S3TestServer } from "./s3-server";

export type DatabaseKind = "postgres" | "embedded";
export type StorageKind = "fs" | "s3";

export interface TestRegistry {
  /** "http://127.0.0.1:PORT", or https:// when the config has tls (changes on restart) */
  url: string;
  /** "127.0.0.1:PORT" (changes on restart) */
  host: string;
  dataDir: string;
  /** The plain-HTTP redirect listener (config tls.redirectListen), when there is one. */
  redirectAddress?: string;
  deps: Deps;
  /** The object store, when storage is "s3". */
  s3?: S3TestServer;
  /** Stops the server as a SIGTERM would, then starts a new one on the same data dir and database. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestRegistryOptions {
  database?: DatabaseKind;
  /** Where blobs go (default: $BERTH_TEST_STORAGE, else "fs"), so a whole suite can be re-run on S3. */
  storage?: StorageKind;
  /** For storage "s3": an S3 server to share (e.g. between replicas); default: one started for this registry. */
  s3?: S3TestServer;
  config?: Record<string, unknown>;
  /** Where the server logs (default: silent, or BERTH_TEST_LOG_LEVEL to stdout). */
  logger?: Logger;
  /** What the server measures TTLs against (e.g. a TestClock), kept across restarts. */
  clock?: DepsOptions["clock"];
}

export async function startTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-test-"));
  const database = options.database === "embedded" ? null : await createTestDatabase();
  let s3: S3TestServer | undefined;
  let ownS3 = false;
  const cleanup = async () => {
    await database?.drop();
    if (ownS3) await s3?.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const storage = options.storage ?? (process.env.BERTH_TEST_STORAGE === "s3" ? "s3" : "fs");
    if (storage === "s3") {
      s3 = options.s3 ?? (await startS3Server());
      ownS3 = !options.s3;
    }
    const config = parseConfig({
      listen: "127.0.0.1:0",
      dataDir,
      logLevel: process.env.BERTH_TEST_LOG_LEVEL ?? "silent",
      // Test data is thrown away: skip fsync so the suite stays quick on a shared disk.
      storage: s3 ? s3.storageConfig() : { fsync: false },
      shutdownTimeoutSeconds: 5,
      // Auth has its own tests; the API suites run against an open registry unless they ask otherwise.
      auth: { enabled: false },
      ...(database ? { databaseUrl: database.url } : {}),
      ...options.config,
    });
    const logger = options.logger ?? createLogger(config);
    const depsOptions: DepsOptions = { clock: options.clock };
    let running = await start(config, logger, depsOptions);
    const registry: TestRegistry = {
      url: `${running.protocol}://${running.address}`,
      host: running.address,
      redirectAddress: running.redirectAddress,
      dataDir,
      deps: running.deps,
      s3,
      async restart() {
        await running.stop();
        running = await start(config, logger, depsOptions);
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

async function start(config: Config, logger: Logger, options: DepsOptions): Promise<RunningServer & { deps: Deps }> {
  const deps = await createDeps(config, logger, options);
  try {
    return { ...(await startServer(deps)), deps };
  } catch (err) {
    await deps.close();
    throw err;
  }
}
