// A throwaway PostgreSQL server for the test run (started once by global-setup.ts) and a fresh database
// per caller, so test files can run in parallel and in any order without seeing each other's rows.
import { spawn, execFile, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdtemp, open, readFile, rm } from "node:fs/promises";
import { existsSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "./free-port";
import { waitFor } from "./wait-for";

export interface PostgresServer {
  /** Superuser URL (trust auth on 127.0.0.1), database "postgres". */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

const SETUP_HINT = "Run `npm run test:setup` to install PostgreSQL for the tests.";

/** Directory holding initdb and postgres: $BERTH_PG_BIN, Debian's /usr/lib/postgresql/<newest>/bin, or PATH. */
export function findPostgresBin(): string {
  const candidates: string[] = [];
  if (process.env.BERTH_PG_BIN) candidates.push(process.env.BERTH_PG_BIN);
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v));
    versions.sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(debian, v, "bin")));
  }
  candidates.push(...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean));
  const found = candidates.find((d) => existsSync(path.join(d, "initdb")) && existsSync(path.join(d, "postgres")));
  if (!found) {
    throw new Error(
      `PostgreSQL server binaries (initdb, postgres) not found in $BERTH_PG_BIN, ${debian}/*/bin or PATH. ${SETUP_HINT}`,
    );
  }
  return found;
}

/** Postgres refuses to run as root: when we are root, run it as the `postgres` OS user. */
function serverOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`running as root but there is no \`postgres\` OS user to run the server as. ${SETUP_HINT}`);
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = findPostgresBin();
  const owner = serverOwner();
  const root = await mkdtemp(path.join(os.tmpdir(), "berth-pg-"));
  let child: ChildProcess | undefined;
  const killAtExit = () => {
    // Last resort if jest dies without teardown: leave no server or temp dir behind.
    child?.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  };
  try {
    if (owner) await chown(root, owner.uid, owner.gid);
    const data = path.join(root, "data");
    await run(path.join(bin, "initdb"), [
      "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
    ], owner);

    const logPath = path.join(root, "postgres.log");
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const log = await open(logPath, "a");
      child = spawn(path.join(bin, "postgres"), [
        "-D", data, "-p", String(port), "-k", root,
        "-c", "listen_addresses=127.0.0.1",
        // Durability is pointless for a server deleted at the end of the run.
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=200",
      ], { ...owner, stdio: ["ignore", log.fd, log.fd] });
      await log.close(); // the child has its own copy of the descriptor
      process.once("exit", killAtExit);
      const adminUrl = `postgresql://postgres@127.0.0.1:${port}/postgres`;
      try {
        await waitReady(adminUrl, child, logPath);
      } catch (err) {
        child.kill("SIGKILL");
        process.removeListener("exit", killAtExit);
        // Another process may have taken the free port between our probe and postgres's bind.
        const text = await readFile(logPath, "utf8").catch(() => "");
        if (attempt < 3 && /could not bind|Address already in use/.test(text)) continue;
        throw err;
      }
      const server = child;
      return {
        adminUrl,
        stop: async () => {
          process.removeListener("exit", killAtExit);
          await stopProcess(server);
          await rm(root, { recursive: true, force: true });
        },
      };
    }
  } catch (err) {
    child?.kill("SIGKILL");
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

let counter = 0;

/** A new, uniquely named database on the test server (BERTH_TEST_PG_URL, set by the jest globalSetup). */
export async function createTestDatabase(adminUrl = process.env.BERTH_TEST_PG_URL): Promise<TestDatabase> {
  if (!adminUrl) {
    throw new Error(
      "BERTH_TEST_PG_URL is not set: the jest globalSetup (test/support/global-setup.ts) starts PostgreSQL " +
        `and sets it; run the tests through jest. ${SETUP_HINT}`,
    );
  }
  const name = `berth_test_${process.pid}_${++counter}_${randomBytes(4).toString("hex")}`;
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // FORCE: a pool a failing test forgot to close must not make the drop fail.
    drop: () => withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function run(file: string, args: string[], owner?: { uid: number; gid: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...owner, cwd: os.tmpdir() }, (err, stdout, stderr) =>
      err ? reject(new Error(`${path.basename(file)} failed: ${err.message}\n${stdout}${stderr}`)) : resolve(),
    );
  });
}

async function waitReady(url: string, child: ChildProcess, logPath: string): Promise<void> {
  const accepts = async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  try {
    await waitFor("postgres to accept connections", accepts, {
      timeoutMs: 60_000,
      abort: () => (child.exitCode !== null || child.signalCode !== null ? "postgres exited during start-up" : undefined),
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}:\n${await readFile(logPath, "utf8").catch(() => "")}`);
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGINT"); // "fast" shutdown: disconnects clients, no waiting for them
  });
}
