// podman (Debian 12: podman 4.3) against Berth with token auth on (issue 4): podman login (a wrong password
// is refused), pull and push as a developer, logout then a private pull refused, anonymous public pull.
// Storage (vfs), run root, temp files and the auth file all live in a temp dir owned by this file.
import { writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import type { TestRegistry } from "../support/registry";
import type { Creds } from "../support/auth-helpers";
import { ADMIN_CREDS, startAuthFixture } from "./support/auth-fixture";
import { tinyImage, writeOciLayout, type OciLayout } from "./support/oci-layout";
import { failureOutput, makeTempDir, removeTree, run, type RunResult } from "./support/process";
import { dockerRef, skopeoInspectRaw } from "./support/skopeo";
import { findBinary, requireBinaries } from "./support/tools";

const TEST_TIMEOUT = 120_000;

let work: string;
let podmanBin: string;
let podmanEnv: NodeJS.ProcessEnv;
let globalArgs: string[];
let tiny: OciLayout;
let registry: TestRegistry | undefined;
let dev: Creds;
let team: string; // private, dev is a developer
let open: string; // public

function host(): string {
  if (!registry) throw new Error("registry did not start");
  return registry.host;
}

async function podman(args: string[], input?: string): Promise<string> {
  const result: RunResult = await run(podmanBin, [...globalArgs, ...args], { env: podmanEnv, input, timeoutMs: 90_000 });
  return `${result.stdout.toString("utf8")}${result.stderr}`;
}


beforeAll(async () => {
  requireBinaries("skopeo");
  const found = findBinary("podman");
  // A missing client fails the suite rather than skipping it: scripts/test-setup.sh installs podman.
  if (!found) throw new Error("e2e prerequisite missing: podman (Debian package podman). Install it with `npm run test:setup`.");
  podmanBin = found;
  work = await makeTempDir("berth-e2e-podman");
  const storageConf = path.join(work, "storage.conf");
  await mkdir(path.join(work, "tmp"));
  await writeFile(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${work}/root"\nrunroot = "${work}/run"\n`);
  // podman 4.3 refuses to pull when REGISTRY_AUTH_FILE names a file that does not exist yet.
  await writeFile(path.join(work, "auth.json"), '{"auths":{}}\n');
  podmanEnv = {
    ...process.env,
    CONTAINERS_STORAGE_CONF: storageConf,
    REGISTRY_AUTH_FILE: path.join(work, "auth.json"),
    // No fallback to a docker client config of the machine's user.
    DOCKER_CONFIG: path.join(work, "docker-config"),
    TMPDIR: path.join(work, "tmp"),
  };
  globalArgs = [
    "--root", path.join(work, "root"),
    "--runroot", path.join(work, "run"),
    "--storage-driver", "vfs",
    "--cgroup-manager", "cgroupfs",
    "--events-backend", "file",
    "--tmpdir", path.join(work, "tmp"),
  ];
  tiny = await writeOciLayout(path.join(work, "tiny"), "latest", tinyImage());
  ({ registry, team, open, dev } = await startAuthFixture(tiny.ref));
}, 120_000);

afterAll(async () => {
  await registry?.stop().catch((e) => console.error("registry stop failed", e));
  if (work) await removeTree(work);
}, 60_000);

describe("podman with token auth", () => {
  test(
    "podman login with a wrong password is refused",
    async () => {
      const out = await failureOutput(podman(["login", "--tls-verify=false", "-u", dev.username, "--password-stdin", host()], "not-the-password\n"));
      expect(out).toMatch(/invalid username\/password|unauthorized/i);
    },
    TEST_TIMEOUT,
  );

  test(
    "anonymous podman pull of a public project works",
    async () => {
      const out = await podman(["pull", "--tls-verify=false", `${host()}/${open}/tiny:v1`]);
      expect(out).toMatch(/Writing manifest to image destination/);
    },
    TEST_TIMEOUT,
  );

  test(
    "podman login, then pull and push as a developer",
    async () => {
      expect(await podman(["login", "--tls-verify=false", "-u", dev.username, "--password-stdin", host()], `${dev.password}\n`)).toMatch(/Login Succeeded/);
      const base = `${host()}/${team}/base:v1`;
      await podman(["pull", "--tls-verify=false", base]);
      const target = `${host()}/${team}/pushed-by-podman:v1`;
      await podman(["tag", base, target]);
      await podman(["push", "--tls-verify=false", target]);
      const served = await skopeoInspectRaw(dockerRef(host(), `${team}/pushed-by-podman`, "v1"), `${dev.username}:${dev.password}`);
      expect(served.digest).toMatch(/^sha256:/);
      await podman(["rmi", target]);
      await podman(["pull", "--tls-verify=false", target]);
    },
    TEST_TIMEOUT,
  );

  test(
    "podman logout, then a pull of the private project is refused",
    async () => {
      const ref = `${host()}/${team}/base:v1`;
      await podman(["logout", host()]);
      await podman(["rmi", "--force", ref]).catch(() => undefined);
      const out = await failureOutput(podman(["pull", "--tls-verify=false", ref]));
      expect(out).toMatch(/unauthorized|denied|authentication required/i);
    },
    TEST_TIMEOUT,
  );
});
