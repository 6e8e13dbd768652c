// The real Docker engine (a private dockerd) against Berth with token auth on (issue 15, item 4): a project
// robot made by the project's API logs in with `docker login` and pulls; after its secret is refreshed, the
// docker that logged in with the old secret is refused, `docker login` with the old secret fails (audited
// with its reason), and the refreshed secret logs in and pulls.
import path from "node:path";
import type { TestRegistry } from "../support/registry";
import { ADMIN_PASSWORD, basic, type Creds } from "../support/auth-helpers";
import { startAuthFixture } from "./support/auth-fixture";
import { startDockerd, type Dockerd } from "./support/dockerd";
import { tinyImage, writeOciLayout } from "./support/oci-layout";
import { failureOutput, makeTempDir, removeTree } from "./support/process";
import { requireBinaries } from "./support/tools";

const TEST_TIMEOUT = 180_000;

let work: string;
let registry: TestRegistry | undefined;
let dockerd: Dockerd | undefined;
let team: string;

function docker(args: string[], input?: string) {
  if (!dockerd) throw new Error("dockerd did not start");
  return dockerd.docker(args, { input, timeoutMs: 90_000 });
}

async function robotApi<T>(method: string, pathname: string, body?: unknown): Promise<T> {
  const res = await fetch(`${registry!.url}/api/v1/projects/${team}/robots${pathname}`, {
    method,
    headers: { Authorization: basic("admin", ADMIN_PASSWORD), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

beforeAll(async () => {
  requireBinaries("skopeo", "dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc");
  work = await makeTempDir("berth-e2e-robotdocker");
  const tiny = await writeOciLayout(path.join(work, "tiny"), "latest", tinyImage());
  ({ registry, team } = await startAuthFixture(tiny.ref));
  dockerd = await startDockerd();
}, 180_000);

afterAll(async () => {
  await dockerd?.stop().catch((e) => console.error("dockerd stop failed", e));
  await registry?.stop().catch((e) => console.error("registry stop failed", e));
  if (work) await removeTree(work);
}, 90_000);

test(
  "a refreshed robot secret logs in with docker; the old one fails",
  async () => {
    const host = registry!.host;
    const image = `${host}/${team}/base:v1`;
    const created = await robotApi<{ robot: { name: string }; secret: string }>("POST", "", { name: "deployer", permissions: [{ project: team, actions: ["pull"] }] });
    const old: Creds = { username: created.robot.name, password: created.secret };
    expect(old.username).toBe(`robot$${team}+deployer`);

    expect((await docker(["login", host, "-u", old.username, "--password-stdin"], `${old.password}\n`)).out).toMatch(/Login Succeeded/);
    await docker(["pull", image]);

    const refreshed = await robotApi<{ secret: string }>("POST", "/deployer/secret");
    // The engine still holds what the old login stored: it no longer gets in.
    await docker(["rmi", image]);
    expect(await failureOutput(docker(["pull", image]))).toMatch(/denied|unauthorized|authentication required/i);
    expect(await failureOutput(docker(["login", host, "-u", old.username, "--password-stdin"], `${old.password}\n`))).toMatch(/unauthorized|401|incorrect username or password/i);

    expect((await docker(["login", host, "-u", old.username, "--password-stdin"], `${refreshed.secret}\n`)).out).toMatch(/Login Succeeded/);
    expect((await docker(["pull", image])).out).toMatch(/Digest: sha256:/);

    // The refused login is in the audit log, with why.
    const refused = (await registry!.deps.audit.query({ actor: old.username, action: "login", limit: 100 })).filter((e) => !e.success);
    expect(refused.map((e) => e.detail)).toContainEqual({ reason: "wrong_secret" });
    await docker(["logout", host]);
  },
  TEST_TIMEOUT,
);
