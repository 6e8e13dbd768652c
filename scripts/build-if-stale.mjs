// `npm start` and `npm run berth` build first; a full build takes ~40 s, so they rebuild only when a
// source the build reads is newer than the last finished build (dist/.build-stamp, written last by
// `npm run build`). `npm run build` itself always builds from scratch.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..");
const INPUTS = ["src", "web/src", "web/index.html", "web/build.mjs", "prisma", "package.json", "package-lock.json", "tsconfig.json", "web/tsconfig.json"];
// src/generated is the Prisma client the build itself writes.
const SKIP = new Set([path.join(root, "src", "generated")]);

function newest(entry) {
  if (SKIP.has(entry)) return 0;
  let stat;
  try {
    stat = statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const name of readdirSync(entry)) latest = Math.max(latest, newest(path.join(entry, name)));
  return latest;
}

function stampTime() {
  try {
    return statSync(path.join(root, "dist", ".build-stamp")).mtimeMs;
  } catch {
    return -1;
  }
}

const sources = Math.max(...INPUTS.map((input) => newest(path.join(root, input))));
if (sources > stampTime()) {
  const built = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  process.exit(built.status ?? 1);
}
