// A standalone containerd per test file: own root, state, sockets and opt dir from a generated
// config file, the CRI plugin off (it would want CNI and a kubelet), and a `ctr` runner bound to it.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { makeTempDir, removeTree, run, startDaemon, type RunOptions } from "./process";
import { waitFor } from "../../support/wait-for";
import { requireBinaries } from "./tools";

export interface CtrResult {
  stdout: Buffer;
  stderr: string;
  /** stdout as text, trimmed. */
  out: string;
}

export interface Containerd {
  readonly dir: string;
  /** gRPC socket path (the value of `ctr -a`). */
  readonly socket: string;
  readonly pid: number;
  /** The namespace the ctr runner uses. */
  readonly namespace: string;
  /** Runs `ctr -a SOCK -n NAMESPACE args...`; rejects with CommandError (carrying stderr) on failure. */
  ctr(args: readonly string[], opts?: RunOptions): Promise<CtrResult>;
  log(): string;
  /** Stops containerd by PID, unmounts leftovers, removes the temp dir. */
  stop(): Promise<void>;
}

export interface ContainerdOptions {
  /** ctr namespace (default "test"). */
  namespace?: string;
  /**
   * Snapshotter for unpacking pulled images. "native" (plain copies) works on any filesystem;
   * overlayfs inside these sandboxes is not guaranteed.
   */
  snapshotter?: string;
}

function configToml(dir: string, socket: string): string {
  // Snapshotters that need special filesystems/devices are disabled to keep the log clean.
  const disabled = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
  ];
  return [
    "version = 2",
    `root = ${JSON.stringify(path.join(dir, "root"))}`,
    `state = ${JSON.stringify(path.join(dir, "state"))}`,
    `disabled_plugins = ${JSON.stringify(disabled)}`,
    "",
    "[grpc]",
    `  address = ${JSON.stringify(socket)}`,
    "",
    "[ttrpc]",
    `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
    "",
    // default is /opt/containerd, shared with the machine: keep it private
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(path.join(dir, "opt"))}`,
    "",
  ].join("\n");
}

export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  const bins = requireBinaries("containerd", "ctr", "containerd-shim-runc-v2", "runc");
  const namespace = opts.namespace ?? "test";
  const snapshotter = opts.snapshotter ?? "native";
  const dir = await makeTempDir("berth-ctrd");
  try {
    const socket = path.join(dir, "containerd.sock");
    const configFile = path.join(dir, "config.toml");
    await writeFile(configFile, configToml(dir, socket));
    const daemon = startDaemon(bins.containerd, ["--config", configFile], path.join(dir, "containerd.log"));
    // CONTAINERD_* variables of the caller would override the flags given to ctr.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CONTAINERD_")));
    const ctr = async (args: readonly string[], runOpts: RunOptions = {}): Promise<CtrResult> => {
      const r = await run(bins.ctr, ["-a", socket, "-n", namespace, ...args], {
        ...runOpts,
        env: { ...env, CONTAINERD_SNAPSHOTTER: snapshotter, ...runOpts.env },
      });
      return { ...r, out: r.stdout.toString("utf8").trim() };
    };
    try {
      await waitFor(
        "containerd",
        async () => {
          await ctr(["version"], { timeoutMs: 5_000 });
          return true;
        },
        {
          timeoutMs: 30_000,
          intervalMs: 100,
          abort: () => (daemon.exited() ? `exited during start-up:\n${daemon.log()}` : undefined),
        },
      );
    } catch (e) {
      await daemon.stop();
      throw e;
    }
    return {
      dir,
      socket,
      pid: daemon.pid,
      namespace,
      ctr,
      log: () => daemon.log(),
      async stop() {
        await daemon.stop(20_000);
        await removeTree(dir);
      },
    };
  } catch (e) {
    await removeTree(dir);
    throw e;
  }
}

/** One row of `ctr images ls`. */
export interface CtrImage {
  ref: string;
  mediaType: string;
  digest: string;
  platforms: string[];
}

/** Parses `ctr images ls` (columns: REF TYPE DIGEST SIZE PLATFORMS LABELS; SIZE has a space in it). */
export function parseCtrImages(out: string): CtrImage[] {
  return out
    .split("\n")
    .slice(1)
    .filter((l) => l.trim() !== "")
    .map((line) => {
      const m = /^(\S+)\s+(\S+)\s+(sha256:[0-9a-f]{64})\s+\S+\s+\S+\s+(\S+)/.exec(line);
      if (!m) throw new Error(`unexpected ctr images ls line: ${line}`);
      return { ref: m[1]!, mediaType: m[2]!, digest: m[3]!, platforms: m[4]!.split(",") };
    });
}
