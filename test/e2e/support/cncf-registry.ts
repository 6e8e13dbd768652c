// The CNCF distribution registry (Debian's docker-registry 2.8.2) as a private process: its own
// temp root, config file and 127.0.0.1 port. The e2e suite validates against it until Berth is
// ready, and benchmarks reuse it as the side-by-side reference.
import { writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { makeTempDir, removeTree, startDaemon, type Daemon } from "./process";
import { waitFor } from "../../support/wait-for";
import { requireBinary } from "./tools";
import { freePort } from "../../support/free-port";

export interface CncfRegistry {
  /** "127.0.0.1:PORT", usable in image references. */
  readonly host: string;
  readonly port: number;
  /** Temp dir holding config.yml, registry.log and the storage root (data/). */
  readonly dir: string;
  readonly pid: number;
  /** The registry's log so far, including its combined-format access log (one line per request). */
  log(): string;
  stop(): Promise<void>;
}

export interface CncfRegistryOptions {
  /** Fixed port; default: a free one picked at random (retried if another process grabs it first). */
  port?: number;
  /** Go log level of the registry ("info" keeps the access log; "debug" adds much more). */
  logLevel?: "error" | "warn" | "info" | "debug";
  /** The combined-format access log, one line per request (default on; benchmarks turn it off). */
  accessLog?: boolean;
  /** Pull-through cache mode: the registry mirrors this upstream (http://host:port) and refuses pushes. */
  proxyRemoteUrl?: string;
}

/** GET /v2/ answering 200 means the registry is serving the API (no auth configured). */
export function pingV2(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`http://${host}/v2/`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.setTimeout(2_000, () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

function configYaml(root: string, port: number, logLevel: string, accessLog: boolean, proxyRemoteUrl?: string): string {
  // JSON is valid YAML, so no YAML writer is needed. Delete is enabled because the suite tests
  // `skopeo delete`; upload purging is off so it never races a test; the fixed secret only
  // silences the "generated random secret" warning (single instance).
  return JSON.stringify(
    {
      version: 0.1,
      log: { level: logLevel, formatter: "text", accesslog: { disabled: !accessLog } },
      storage: {
        filesystem: { rootdirectory: root },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
        cache: { blobdescriptor: "inmemory" },
      },
      http: { addr: `127.0.0.1:${port}`, secret: "berth-e2e-not-a-secret" },
      ...(proxyRemoteUrl ? { proxy: { remoteurl: proxyRemoteUrl } } : {}),
    },
    null,
    2,
  );
}

export async function startCncfRegistry(opts: CncfRegistryOptions = {}): Promise<CncfRegistry> {
  const bin = requireBinary("docker-registry");
  // REGISTRY_* variables override the config file inside the registry; drop any from the caller.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("REGISTRY_")));
  const attempts = opts.port ? 1 : 5;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const dir = await makeTempDir("berth-cncf");
    const port = opts.port ?? (await freePort());
    const host = `127.0.0.1:${port}`;
    const configFile = path.join(dir, "config.yml");
    await writeFile(configFile, configYaml(path.join(dir, "data"), port, opts.logLevel ?? "info", opts.accessLog ?? true, opts.proxyRemoteUrl));
    let daemon: Daemon | undefined;
    try {
      daemon = startDaemon(bin, ["serve", configFile], path.join(dir, "registry.log"), env);
      const d = daemon;
      await waitFor(`docker-registry on ${host}`, () => pingV2(host), {
        timeoutMs: 20_000,
        abort: () => (d.exited() ? `exited during start-up:\n${d.log()}` : undefined),
      });
      return {
        host,
        port,
        dir,
        pid: d.pid,
        log: () => d.log(),
        async stop() {
          await d.stop();
          await removeTree(dir);
        },
      };
    } catch (e) {
      lastError = e;
      await daemon?.stop().catch(() => undefined);
      await removeTree(dir);
    }
  }
  throw lastError;
}
