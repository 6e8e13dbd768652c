// The real Docker engine (a private dockerd 20.10) against Berth with token auth on (issue 4):
// docker login (wrong password refused), push and pull as a developer, logout then a private pull refused,
// anonymous pull of a public project.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { TestRegistry } from "../support/registry";
import { uniqueName, type Creds } from "../support/auth-helpers";
import { ADMIN_CREDS, startAuthFixture } from "./support/auth-fixture";
import { startDockerd, type Dockerd } from "./support/dockerd";
import { tinyImage, writeOciLayout, type OciLayout } from "./support/oci-layout";
import { failureOutput, makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoInspectRaw } from "./support/skopeo";
import { requireBinaries } from "./support/tools";

const TEST_TIMEOUT = 120_000;

let work: string;
let tiny: OciLayout;
let registry: TestRegistry | undefined;
let dockerd: Dockerd | undefined;
let dev: Creds;
let team: string; // private; dev is a developer there
let open: string; // public

function host(): string {
  if (!registry) throw new Error("registry did not start");
  return registry.host;
}

function docker(args: string[], input?: string) {
  if (!dockerd) throw new Error("dockerd did not start");
  return dockerd.docker(args, { input, timeoutMs: 90_000 });
}


beforeAll(async () => {
  requireBinaries("skopeo", "dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc");
  work = await makeTempDir("berth-e2e-authdocker");
  tiny = await writeOciLayout(path.join(work, "tiny"), "latest", tinyImage());
  ({ registry, team, open, dev } = await startAuthFixture(tiny.ref));
  dockerd = await startDockerd();
}, 180_000);

afterAll(async () => {
  await dockerd?.stop().catch((e) => console.error("dockerd stop failed", e));
  await registry?.stop().catch((e) => console.error("registry stop failed", e));
  if (work) await removeTree(work);
}, 90_000);

describe("docker with token auth", () => {
  test(
    "docker login with a wrong password is refused and stores nothing",
    async () => {
      const out = await failureOutput(docker(["login", host(), "-u", dev.username, "--password-stdin"], "not-the-password\n"));
      expect(out).toMatch(/unauthorized|401|incorrect username or password/i);
      const config = JSON.parse(await readFile(path.join(dockerd!.env.DOCKER_CONFIG!, "config.json"), "utf8")) as { auths?: Record<string, unknown> };
      expect(Object.keys(config.auths ?? {})).not.toContain(host());
    },
    TEST_TIMEOUT,
  );

  test(
    "anonymous docker pull of a public project works",
    async () => {
      const ref = `${host()}/${open}/tiny:v1`;
      const pull = await docker(["pull", ref]);
      expect(pull.out).toContain(`Digest: ${tiny.top.digest}`);
    },
    TEST_TIMEOUT,
  );

  test(
    "anonymous docker pull of a private project is refused",
    async () => {
      const out = await failureOutput(docker(["pull", `${host()}/${team}/base:v1`]));
      expect(out).toMatch(/denied|unauthorized|authentication required/i);
    },
    TEST_TIMEOUT,
  );

  test(
    "docker login, then push and pull as a developer",
    async () => {
      const login = await docker(["login", host(), "-u", dev.username, "--password-stdin"], `${dev.password}\n`);
      expect(login.out).toMatch(/Login Succeeded/);
      // The client keeps no plain password when the registry gave it a refresh token; either way the
      // credentials are stored for this host.
      const config = JSON.parse(await readFile(path.join(dockerd!.env.DOCKER_CONFIG!, "config.json"), "utf8")) as { auths?: Record<string, unknown> };
      expect(Object.keys(config.auths ?? {})).toContain(host());

      const base = `${host()}/${team}/base:v1`;
      const pulled = await docker(["pull", base]);
      expect(pulled.out).toContain(`Digest: ${tiny.top.digest}`);
      const target = `${host()}/${team}/pushed-by-docker:v1`;
      await docker(["tag", base, target]);
      const push = await docker(["push", target]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.out)?.[1];
      expect(digest).toBeDefined();
      // Visible to another client with the developer's credentials.
      const served = await skopeoInspectRaw(dockerRef(host(), `${team}/pushed-by-docker`, "v1"), `${dev.username}:${dev.password}`);
      expect(served.digest).toBe(digest);
      // Forget it locally and pull it back.
      await docker(["rmi", target]);
      const again = await docker(["pull", target]);
      expect(again.out).toContain(`Digest: ${digest}`);
      // The audit log saw the developer push and pull.
      const events = await registry!.deps.audit.query({ actor: dev.username, repository: `${team}/pushed-by-docker`, limit: 100 });
      expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(["push", "pull"]));
    },
    TEST_TIMEOUT,
  );

  test(
    "a developer cannot push into a project they are not a member of",
    async () => {
      const other = uniqueName("other");
      await registry!.deps.auth.accounts.addProject(other);
      const target = `${host()}/${other}/intruder:v1`;
      await docker(["tag", `${host()}/${open}/tiny:v1`, target]);
      const out = await failureOutput(docker(["push", target]));
      expect(out).toMatch(/denied|unauthorized/i);
      await expect(skopeoInspectRaw(dockerRef(host(), `${other}/intruder`, "v1"), ADMIN_CREDS)).rejects.toThrow(/manifest unknown|not found|404/i);
    },
    TEST_TIMEOUT,
  );

  test(
    "docker logout, then a pull of the private project is refused",
    async () => {
      const ref = `${host()}/${team}/base:v1`;
      const logout = await docker(["logout", host()]);
      expect(logout.out).toMatch(/Removing login credentials/);
      await docker(["rmi", ref]).catch(() => undefined); // the pull below must ask the registry
      const out = await failureOutput(docker(["pull", ref]));
      expect(out).toMatch(/denied|unauthorized|authentication required/i);
      // And a push while logged out is refused too.
      const target = `${host()}/${team}/after-logout:v1`;
      await docker(["tag", `${host()}/${open}/tiny:v1`, target]);
      expect(await failureOutput(docker(["push", target]))).toMatch(/denied|unauthorized|authentication required/i);
    },
    TEST_TIMEOUT,
  );
});
