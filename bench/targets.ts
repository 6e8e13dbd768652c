// The registries a run compares. Every workload runs against every target, alternating, and each
// Berth row is divided by the reference row.
//
// Extension point: add a row by adding a TargetSpec here.
//   - Berth on S3 (once the S3 driver lands): a spec like berthTarget() that sets BERTH_STORAGE=s3 plus
//     the bucket settings against an S3-compatible server started on 127.0.0.1 for the run.
//   - Mirror mode needs different workloads (cold/warm pulls through a proxy against one upstream), so it
//     comes as its own suite with its own target pair (Berth mirror vs docker-registry in proxy mode,
//     both pointing at one upstream registry started for the run): see SUITES in bench/main.ts.
import path from "node:path";
import { startCncfRegistry } from "../test/e2e/support/cncf-registry";
import { createTestDatabase, startPostgres, type PostgresServer, type TestDatabase } from "../test/support/postgres";
import { startBerthProcess } from "./lib/berth-process";
import { findPostmaster } from "./lib/proc";

export type TargetRole = "reference" | "berth";

export interface RunningTarget {
  id: string;
  label: string;
  role: TargetRole;
  /** "127.0.0.1:PORT", plain HTTP. */
  host: string;
  /** The server process (RSS and CPU are read from /proc/<pid>). */
  pid: number;
  /** Its separate database server's root process, if any (CPU reported beside the server's). */
  dbPid?: number;
  /** One line on how it runs: storage, database, fsync, logging. */
  notes: string;
  /** Server log so far (for errors). */
  log(): string;
  stop(): Promise<void>;
}

export interface TargetEnv {
  repoRoot: string;
  /** A temp dir for this run on the disk under test. */
  work: string;
  /** BERTH_STORAGE_FSYNC for the Berth rows. */
  fsync: boolean;
  /** Shared Postgres server of the run (started on first use). */
  postgres(): Promise<{ adminUrl: string; pid?: number }>;
}

export interface TargetSpec {
  id: string;
  label: string;
  role: TargetRole;
  start(env: TargetEnv): Promise<RunningTarget>;
}

export const REFERENCE_ID = "cncf";

export const cncfTarget: TargetSpec = {
  id: REFERENCE_ID,
  label: "CNCF distribution 2.8.2",
  role: "reference",
  async start() {
    // Access log off and log level warn: the same "no per-request logging" as Berth's rows.
    const reg = await startCncfRegistry({ logLevel: "warn", accessLog: false });
    return {
      id: REFERENCE_ID,
      label: this.label,
      role: "reference",
      host: reg.host,
      pid: reg.pid,
      notes: "filesystem driver (no fsync), inmemory blob descriptor cache, access log off, log level warn",
      log: () => reg.log(),
      stop: () => reg.stop(),
    };
  },
};

export function berthTarget(id: string, label: string, database: "postgres" | "embedded"): TargetSpec {
  return {
    id,
    label,
    role: "berth",
    async start(env) {
      const dataDir = path.join(env.work, id);
      let db: TestDatabase | undefined;
      let dbPid: number | undefined;
      if (database === "postgres") {
        const pg = await env.postgres();
        db = await createTestDatabase(pg.adminUrl);
        dbPid = pg.pid;
      }
      const proc = await startBerthProcess({ repoRoot: env.repoRoot, dataDir, databaseUrl: db?.url, fsync: env.fsync }).catch(async (err) => {
        await db?.drop();
        throw err;
      });
      const dbNote = database === "postgres" ? "PostgreSQL (fsync=off, synchronous_commit=off)" : "embedded PGlite";
      return {
        id,
        label,
        role: "berth",
        host: proc.host,
        pid: proc.pid,
        dbPid,
        notes: `filesystem storage (BERTH_STORAGE_FSYNC=${env.fsync}), ${dbNote}, BERTH_LOG_LEVEL=warn, BERTH_AUTH=off`,
        log: () => proc.log(),
        async stop() {
          await proc.stop();
          await db?.drop();
        },
      };
    },
  };
}

/** The rows of the core suite, reference first. */
export function coreTargets(): TargetSpec[] {
  return [
    cncfTarget,
    berthTarget("berth-pg", "Berth, fs + Postgres", "postgres"),
    berthTarget("berth-embedded", "Berth, fs + PGlite", "embedded"),
    // berthTarget-like "berth-s3" row goes here once the S3 driver exists (see the header comment).
  ];
}

/** Lazily started shared Postgres for a run; stop() is a no-op when it never started or was given. */
export function postgresProvider(givenAdminUrl?: string) {
  let server: Promise<PostgresServer> | undefined;
  return {
    async get(): Promise<{ adminUrl: string; pid?: number }> {
      if (givenAdminUrl) return { adminUrl: givenAdminUrl, pid: findPostmaster(Number(new URL(givenAdminUrl).port)) };
      server ??= startPostgres();
      const s = await server;
      return { adminUrl: s.adminUrl, pid: findPostmaster(Number(new URL(s.adminUrl).port)) };
    },
    async stop(): Promise<void> {
      if (server) await (await server).stop();
    },
  };
}
