// A private Docker engine per test file, started the way /work/shared/REAL-CLIENTS.md says works in
// these sandboxes: temp data/exec root, its own unix socket, vfs storage, no iptables/bridge.
// One per file (start-up takes seconds), never the machine's system docker.
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { startContainerd, type Containerd } from "./containerd";
import { makeTempDir, removeTree, run, startDaemon, type RunOptions, type RunResult } from "./process";
import { waitFor } from "../../support/wait-for";
import { requireBinaries } from "./tools";

export interface DockerResult extends RunResult {
  /** stdout as text, trimmed. */
  out: string;
}

export interface Dockerd {
  /** Temp dir holding data/, exec/, client/, the socket and dockerd.log. */
  readonly dir: string;
  /** "unix:///…/docker.sock": the DOCKER_HOST value. */
  readonly host: string;
  readonly pid: number;
  /** Environment for docker CLI calls: DOCKER_HOST and a private DOCKER_CONFIG. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs the docker CLI against this daemon; rejects with CommandError (carrying stderr) on failure. */
  docker(args: readonly string[], opts?: RunOptions): Promise<DockerResult>;
  log(): string;
  /** Stops dockerd, then its private containerd, by PID; unmounts leftovers and removes the temp dirs. */
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** --registry-mirror URLs, e.g. "http://127.0.0.1:PORT". */
  registryMirrors?: string[];
  /** --insecure-registry entries (127.0.0.0/8 is already plain HTTP for dockerd). */
  insecureRegistries?: string[];
  extraArgs?: string[];
}

/** GET /_ping on the daemon socket answers "OK" once the API is up. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: "/_ping" }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.setTimeout(2_000, () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  const bins = requireBinaries("dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc");
  const dir = await makeTempDir("berth-dockerd");
  let containerd: Containerd | undefined;
  try {
    // dockerd 20.10 silently attaches to the machine's containerd when /run/containerd/containerd.sock
    // exists (a system docker.io/containerd service). Handing it a private containerd keeps images,
    // containers and shims of the test inside temp dirs on every machine.
    containerd = await startContainerd({ namespace: "moby" });
    const socket = path.join(dir, "docker.sock");
    const clientDir = path.join(dir, "client");
    await mkdir(clientDir);
    // Own (empty) daemon config so a system /etc/docker/daemon.json cannot change behaviour.
    const configFile = path.join(dir, "daemon.json");
    await writeFile(configFile, "{}\n");
    await writeFile(path.join(clientDir, "config.json"), "{}\n");
    const args = [
      "--config-file", configFile,
      "--containerd", containerd.socket,
      "--data-root", path.join(dir, "data"),
      "--exec-root", path.join(dir, "exec"),
      "--pidfile", path.join(dir, "dockerd.pid"),
      "-H", `unix://${socket}`,
      "--storage-driver=vfs",
      "--iptables=false",
      "--ip6tables=false",
      "--ip-forward=false",
      "--ip-masq=false",
      "--bridge=none",
      ...(opts.registryMirrors ?? []).flatMap((m) => ["--registry-mirror", m]),
      ...(opts.insecureRegistries ?? []).flatMap((r) => ["--insecure-registry", r]),
      ...(opts.extraArgs ?? []),
    ];
    // dockerd finds runc and docker-init through PATH; make sure the sbin dirs are on it.
    const daemonEnv: NodeJS.ProcessEnv = { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin` };
    delete daemonEnv.DOCKER_HOST;
    const daemon = startDaemon(bins.dockerd, args, path.join(dir, "dockerd.log"), daemonEnv);
    try {
      await waitFor("dockerd", () => ping(socket), {
        timeoutMs: 60_000,
        intervalMs: 200,
        abort: () => (daemon.exited() ? `exited during start-up:\n${daemon.log()}` : undefined),
      });
    } catch (e) {
      await daemon.stop(30_000);
      throw e;
    }
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: clientDir };
    // Other DOCKER_* settings of the caller (TLS, context, BuildKit) would redirect or change the CLI.
    for (const k of ["DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_BUILDKIT"]) delete env[k];
    const ctrd = containerd;
    return {
      dir,
      host: `unix://${socket}`,
      pid: daemon.pid,
      env,
      async docker(dockerArgs, runOpts = {}) {
        const r = await run(bins.docker, dockerArgs, { ...runOpts, env: { ...env, ...runOpts.env } });
        return { ...r, out: r.stdout.toString("utf8").trim() };
      },
      log: () => daemon.log(),
      async stop() {
        // dockerd would give each running container 10 s to stop; a failed test may leave some,
        // so kill them first. Then dockerd, then its containerd.
        try {
          if (!daemon.exited()) {
            const ids = await run(bins.docker, ["ps", "-aq"], { env, timeoutMs: 10_000 }).catch(() => undefined);
            const list = ids?.stdout.toString("utf8").split(/\s+/).filter(Boolean) ?? [];
            if (list.length > 0) await run(bins.docker, ["rm", "-f", ...list], { env, timeoutMs: 30_000 }).catch(() => undefined);
          }
          await daemon.stop(45_000);
        } finally {
          await ctrd.stop();
          await removeTree(dir);
        }
      },
    };
  } catch (e) {
    await containerd?.stop();
    await removeTree(dir);
    throw e;
  }
}
