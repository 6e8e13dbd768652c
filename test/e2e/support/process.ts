// Process plumbing shared by the e2e client wrappers: run a command to completion, start a
// long-lived daemon with its output in a log file, stop it by PID, and own temp dirs.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { openSync, closeSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string | Buffer;
  /** Kill the command after this many ms (default 300 s) so a hung client cannot hang jest. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Raw bytes: manifests must be hashed exactly as the client printed them. */
  stdout: Buffer;
  stderr: string;
}

/** Error carrying the client's stderr, so a failing assertion shows what the tool said. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} exited with ${exitCode}\n--- stderr ---\n${stderr.trim()}\n--- stdout ---\n${stdout.trim().slice(0, 4000)}`);
    this.name = "CommandError";
  }
}

/** Runs `file args...` (no shell) and resolves with its output; rejects with CommandError on non-zero exit. */
export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = spawn(file, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdin.on("error", () => undefined); // the tool may exit before reading stdin
  child.stdin.end(opts.input ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 300_000);
  try {
    const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
    const stdout = Buffer.concat(out);
    const stderr = Buffer.concat(err).toString("utf8");
    if (code !== 0) {
      const cmd = [file, ...args].join(" ");
      throw new CommandError(signal ? `${cmd} (signal ${signal})` : cmd, code, stdout.toString("utf8"), stderr);
    }
    return { stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

export interface Daemon {
  readonly pid: number;
  readonly logFile: string;
  /** True once the process has exited (e.g. crashed during start-up). */
  exited(): boolean;
  /** Current contents of the log file (stdout and stderr interleaved). */
  log(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts a daemon whose stdout/stderr go to logFile (a file, not a pipe, so it can never block on a full pipe). */
export function startDaemon(file: string, args: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): Daemon {
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(file, args, { env: env ?? process.env, stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  const pid = child.pid;
  let done = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      done = true;
      resolve();
    });
    child.once("error", () => {
      done = true;
      resolve();
    });
  });
  return {
    pid,
    logFile,
    exited: () => done,
    log: () => {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    async stop(graceMs = 15_000) {
      if (done) return;
      // The process may exit between the check and the signal: ESRCH is fine then.
      const signal = (s: NodeJS.Signals) => {
        try {
          process.kill(pid, s);
        } catch {
          /* already gone */
        }
      };
      signal("SIGTERM");
      const timer = setTimeout(() => {
        if (!done) signal("SIGKILL");
      }, graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** The output (stderr, then stdout) of a command expected to fail; throws if it succeeded. */
export async function failureOutput(command: Promise<unknown>): Promise<string> {
  try {
    await command;
  } catch (err) {
    if (err instanceof CommandError) return `${err.stderr}\n${err.stdout}`;
    throw err;
  }
  throw new Error("the command succeeded, expected a failure");
}

/** A fresh directory under the OS temp dir; short prefix because daemons put unix sockets in it (108-byte limit). */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
}

/**
 * Unmounts everything mounted at or below root (deepest first), e.g. the shm tmpfs and netns
 * bind mounts dockerd leaves when it dies mid-test. Lazy unmount so a busy mount cannot wedge cleanup.
 */
export function unmountUnder(root: string): void {
  const prefix = root.endsWith("/") ? root : `${root}/`;
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === root || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync("umount", ["-l", m], { stdio: "ignore" });
    } catch {
      // already gone (an unmount of a parent took it along)
    }
  }
}

/** Unmounts anything left below dir, then deletes it. Safe to call twice. */
export async function removeTree(dir: string): Promise<void> {
  unmountUnder(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
