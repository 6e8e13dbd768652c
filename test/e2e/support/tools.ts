// Locating the real client binaries. A missing tool must FAIL the e2e suite (never skip it),
// otherwise a machine without the prerequisites would report green without testing anything.
import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";

/** Every binary the e2e suite drives, with the Debian package that provides it. */
export const E2E_BINARIES = {
  skopeo: "skopeo",
  "docker-registry": "docker-registry",
  dockerd: "docker.io",
  docker: "docker.io",
  containerd: "containerd",
  ctr: "containerd",
  "containerd-shim-runc-v2": "containerd",
  runc: "runc",
  busybox: "busybox-static",
  chromium: "chromium",
} as const;

export type E2eBinary = keyof typeof E2E_BINARIES;

/**
 * Binaries we want from a fixed place rather than from PATH: some images ship a newer docker CLI in
 * /usr/local/bin; we pin the docker.io package's CLI so client and daemon (20.10) match.
 */
const PREFERRED: Partial<Record<E2eBinary, string>> = {
  docker: "/usr/bin/docker",
  // The runnable test image copies this file into its layer, so it must be the static build.
  busybox: "/bin/busybox",
  // Debian's browser package; playwright-core drives it (its own browser download cannot work here).
  chromium: "/usr/bin/chromium",
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Absolute path of a binary, or undefined. Searches PATH plus the sbin dirs (dockerd lives in /usr/sbin). */
export function findBinary(name: string): string | undefined {
  const preferred = PREFERRED[name as E2eBinary];
  if (preferred && isExecutable(preferred)) return preferred;
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Resolves all names to absolute paths or throws one error listing every missing tool and its package. */
export function requireBinaries<const N extends E2eBinary>(...names: N[]): Record<N, string> {
  const found = {} as Record<N, string>;
  const missing: string[] = [];
  for (const name of names) {
    const p = findBinary(name);
    if (p) found[name] = p;
    else missing.push(`${name} (Debian package ${E2E_BINARIES[name]})`);
  }
  if (missing.length > 0) {
    throw new Error(
      `e2e prerequisites missing: ${missing.join(", ")}. ` +
        "Install them with `npm run test:setup` (runs scripts/test-setup.sh as root).",
    );
  }
  return found;
}

/** Convenience for modules that need one binary. */
export function requireBinary(name: E2eBinary): string {
  return requireBinaries(name)[name];
}
