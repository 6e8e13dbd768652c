// --baseline <git-ref>: the same benchmark against an older Berth in the same run, so a change is measured
// before and after under the same machine load. The ref is checked out in a temporary git worktree and
// built there (Prisma client + tsc), with this checkout's node_modules linked in; its row is `berth-baseline`.
import { execFile } from "node:child_process";
import { symlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Baseline {
  ref: string;
  /** The resolved commit, short. */
  commit: string;
  root: string;
  remove(): Promise<void>;
}

export async function prepareBaseline(repoRoot: string, ref: string, work: string, log: (msg: string) => void): Promise<Baseline> {
  const commit = (await run("git", ["-C", repoRoot, "rev-parse", "--short", `${ref}^{commit}`])).stdout.trim();
  const root = path.join(work, `baseline-${commit}`);
  await run("git", ["-C", repoRoot, "worktree", "add", "--detach", root, commit]);
  const remove = async () => {
    await run("git", ["-C", repoRoot, "worktree", "remove", "--force", root]).catch(() => undefined);
  };
  try {
    await symlink(path.join(repoRoot, "node_modules"), path.join(root, "node_modules"), "dir");
    log(`baseline ${ref} (${commit}): building in ${root}`);
    // The server only: the Prisma client and the compiled sources. Types are not checked, since the
    // linked node_modules are this checkout's (the ref's own @types may be gone); the web UI is not benchmarked.
    await run("npm", ["run", "generate"], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    await run("npx", ["tsc", "-p", "tsconfig.json", "--noCheck"], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    await remove();
    const e = err as { stderr?: string; message: string };
    throw new Error(`--baseline ${ref}: the build failed: ${(e.stderr ?? "").slice(-2000) || e.message}`);
  }
  return { ref, commit, root, remove };
}
