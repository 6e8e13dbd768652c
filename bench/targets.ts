// The registries a run compares. Every workload runs against every target, alternating, and each
// Berth row is divided by the reference row.
//
// Extension point: add a row by adding a TargetSpec here.
//   - Berth on S3 (once the S3 driver lands): a spec like berthTarget() that sets BERTH_STORAGE=s3 plus
//     the bucket settings against an S3-compatible server started on 127.0.0.1 for the run.
//   - Mirror mode needs different workloads (cold/warm pulls through a proxy against one upstream), so it
//     is its own suite (SUITES in bench/main.ts) with its own targets, mirrorTargets(): Berth mirrors vs
//     docker-registry in proxy mode, all pointing at one upstream registry started for the run.
import path from "node:path";
import { startCncfRegistry } from "../test/e2e/support/cncf-registry";
import { createTestDatabase, startPostgres, type PostgresServer, type TestDatabase } from "../test/support/postgres";
import { startBerthProcess } from "./lib/berth-process";
import { findPostmaster } from "./lib/proc";
import { countingFront, type TargetUpstream } from "./lib/upstream";

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
  /** Mirror targets: the upstream registry and what this target asked it for. */
  upstream?: TargetUpstream;
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
  /** Shared upstream registry of the mirror targets (started on first use). */
  upstream(): Promise<{ host: string }>;
}

export interface TargetSpec {
  id: string;
  label: string;
  role: TargetRole;
  start(env: TargetEnv): Promise<RunningTarget>;
}

export const REFERENCE_ID = "cncf";
export const MIRROR_REFERENCE_ID = "cncf-proxy";

/** Mirror targets mirror the run's upstream through their own counting front (stopped with the target). */
async function mirrorFront(env: TargetEnv, mirror: boolean) {
  return mirror ? countingFront(await env.upstream()) : undefined;
}

export function cncfTarget(id: string, label: string, mirror = false): TargetSpec {
  return {
    id,
    label,
    role: "reference",
    async start(env) {
      const front = await mirrorFront(env, mirror);
      // Access log off and log level warn: the same "no per-request logging" as Berth's rows.
      const reg = await startCncfRegistry({ logLevel: "warn", accessLog: false, proxyRemoteUrl: front?.url }).catch(async (err) => {
        await front?.stop();
        throw err;
      });
      return {
        id,
        label,
        role: "reference",
        host: reg.host,
        pid: reg.pid,
        notes: `filesystem driver (no fsync), inmemory blob descriptor cache, access log off, log level warn${front ? ", proxy mode (`proxy: remoteurl:` the upstream)" : ""}`,
        upstream: front?.upstream,
        log: () => reg.log(),
        async stop() {
          await reg.stop();
          await front?.stop();
        },
      };
    },
  };
}

/** `repoRoot`: another build of Berth (the --baseline worktree) instead of this checkout's. */
export function berthTarget(id: string, label: string, database: "postgres" | "embedded", mirror = false, repoRoot?: string): TargetSpec {
  return {
    id,
    label,
    role: "berth",
    async start(env) {
      const dataDir = path.join(env.work, id);
      const front = await mirrorFront(env, mirror);
      let db: TestDatabase | undefined;
      let dbPid: number | undefined;
      const proc = await (async () => {
        if (database === "postgres") {
          const pg = await env.postgres();
          db = await createTestDatabase(pg.adminUrl);
          dbPid = pg.pid;
        }
        const extra = front ? { BERTH_MIRROR_UPSTREAM: front.url } : undefined;
        return startBerthProcess({ repoRoot: repoRoot ?? env.repoRoot, dataDir, databaseUrl: db?.url, fsync: env.fsync, env: extra });
      })().catch(async (err) => {
        await db?.drop();
        await front?.stop();
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
        notes: `filesystem storage (BERTH_STORAGE_FSYNC=${env.fsync}), ${dbNote}, BERTH_LOG_LEVEL=warn, BERTH_AUTH=off${front ? ", BERTH_MIRROR_UPSTREAM=the upstream" : ""}`,
        upstream: front?.upstream,
        log: () => proc.log(),
        async stop() {
          await proc.stop();
          await db?.drop();
          await front?.stop();
        },
      };
    },
  };
}

/** The rows of the core suite, reference first; with a baseline build, its row (as berth-pg) follows berth-pg. */
export function coreTargets(baseline?: { commit: string; root: string }): TargetSpec[] {
  return [
    cncfTarget(REFERENCE_ID, "CNCF distribution 2.8.2"),
    berthTarget("berth-pg", "Berth, fs + Postgres", "postgres"),
    ...(baseline ? [berthTarget("berth-baseline", `Berth at ${baseline.commit} (--baseline), fs + Postgres`, "postgres", false, baseline.root)] : []),
    berthTarget("berth-embedded", "Berth, fs + PGlite", "embedded"),
    // berthTarget-like "berth-s3" row goes here once the S3 driver exists (see the header comment).
  ];
}

/** The rows of the mirror suite, reference first: each mirrors the run's one upstream registry. */
export function mirrorTargets(): TargetSpec[] {
  return [
    cncfTarget(MIRROR_REFERENCE_ID, "CNCF distribution 2.8.2, proxy mode", true),
    berthTarget("berth-mirror", "Berth mirror, fs + Postgres", "postgres", true),
    berthTarget("berth-mirror-embedded", "Berth mirror, fs + PGlite", "embedded", true),
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
