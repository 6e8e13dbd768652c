// Berth as users run it: `node dist/main.js serve` in its own process, configured by environment,
// on a random 127.0.0.1 port. Optionally under --cpu-prof (the profile is written when it exits).
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { pingV2 } from "../../test/e2e/support/cncf-registry";
import { freePort } from "../../test/support/free-port";
import { startDaemon, type Daemon } from "../../test/e2e/support/process";
import { waitFor } from "../../test/support/wait-for";

export interface BerthProcessOptions {
  /** The checkout: dist/main.js must be built (`npm run build`). */
  repoRoot: string;
  dataDir: string;
  /** postgres://… for a real server; unset → the embedded PGlite under dataDir. */
  databaseUrl?: string;
  /** BERTH_STORAGE_FSYNC. */
  fsync: boolean;
  /** BERTH_LOG_LEVEL; "warn" turns the per-request log off. */
  logLevel?: string;
  /** Write a V8 CPU profile (berth.cpuprofile) into this directory when the process exits. */
  cpuProfDir?: string;
  /** More BERTH_* settings (e.g. BERTH_MIRROR_UPSTREAM for the mirror rows). */
  env?: Record<string, string>;
}

export interface BerthProcess {
  host: string;
  pid: number;
  log(): string;
  stop(): Promise<void>;
}

export async function startBerthProcess(opts: BerthProcessOptions): Promise<BerthProcess> {
  await mkdir(opts.dataDir, { recursive: true });
  const main = path.join(opts.repoRoot, "dist", "main.js");
  const nodeArgs = opts.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${opts.cpuProfDir}`, "--cpu-prof-name=berth.cpuprofile"] : [];
  // Only our settings: nothing from the caller's BERTH_* / DATABASE_URL may leak in.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("BERTH_") && k !== "DATABASE_URL" && k !== "NODE_OPTIONS"),
  );
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const env = {
      ...base,
      BERTH_LISTEN: host,
      BERTH_DATA_DIR: opts.dataDir,
      BERTH_LOG_LEVEL: opts.logLevel ?? "warn",
      BERTH_STORAGE_FSYNC: String(opts.fsync),
      // The reference registry runs without auth, so Berth does too: the rows compare registries, not logins.
      BERTH_AUTH: "off",
      ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
      ...opts.env,
    };
    let daemon: Daemon | undefined;
    try {
      daemon = startDaemon(process.execPath, [...nodeArgs, main, "serve"], path.join(opts.dataDir, `berth-${port}.log`), env);
      const d = daemon;
      await waitFor(`berth on ${host}`, () => pingV2(host), {
        timeoutMs: 60_000,
        abort: () => (d.exited() ? `exited during start-up:\n${d.log()}` : undefined),
      });
      return { host, pid: d.pid, log: () => d.log(), stop: () => d.stop(30_000) };
    } catch (err) {
      lastError = err;
      await daemon?.stop().catch(() => undefined);
      // Another process may have taken the port between the probe and the bind: try another one.
      if (!/EADDRINUSE/.test(daemon?.log() ?? "")) break;
    }
  }
  throw lastError;
}
