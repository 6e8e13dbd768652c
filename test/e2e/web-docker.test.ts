// The web UI's image archives and search against the real Docker engine: an exported tarball is loaded by
// `docker load` and runs; what `docker save` writes imports back through the UI's endpoint and pulls and
// runs; `docker search <host>/<term>` finds repositories through Berth's /v1/search, as the caller may see them.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { headersFor } from "../support/web-client";
import { startDockerd, type Dockerd } from "./support/dockerd";
import { runnableImage, writeOciLayout, RUNNABLE_OUTPUT } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy } from "./support/skopeo";
import { requireBinaries } from "./support/tools";

jest.setTimeout(180_000);

const PASSWORD = "admin-pass-1";
const admin = { basic: ["admin", PASSWORD] as [string, string] };
let registry: TestRegistry;
let dockerd: Dockerd;
let work: string;

beforeAll(async () => {
  requireBinaries("skopeo", "dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc", "busybox");
  work = await makeTempDir("berth-e2e-webdocker");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD } } });
  const layout = await writeOciLayout(path.join(work, "runnable"), "v1", runnableImage());
  await skopeoCopy(layout.ref, dockerRef(registry.host, "team/runnable", "v1"), { destCreds: `admin:${PASSWORD}` });
  await fetch(`${registry.url}/api/v1/projects`, { method: "POST", headers: headersFor(admin, { "Content-Type": "application/json" }), body: JSON.stringify({ name: "pub", public: true }) });
  await skopeoCopy(layout.ref, dockerRef(registry.host, "pub/runnable-public", "v1"), { destCreds: `admin:${PASSWORD}` });
  dockerd = await startDockerd();
}, 180_000);

afterAll(async () => {
  await dockerd?.stop().catch((e) => console.error("dockerd stop failed", e));
  await registry?.stop();
  if (work) await removeTree(work);
});

test("an exported tarball is what docker load reads, and it runs", async () => {
  const res = await fetch(`${registry.url}/api/v1/repositories/team/runnable/-/export/v1`, { headers: headersFor(admin) });
  expect(res.status).toBe(200);
  const file = path.join(work, "exported.tar");
  await writeFile(file, Buffer.from(await res.arrayBuffer()));
  const loaded = await dockerd.docker(["load", "-i", file]);
  expect(loaded.out).toContain(`Loaded image: ${registry.host}/team/runnable:v1`);
  expect((await dockerd.docker(["run", "--rm", "--network", "none", `${registry.host}/team/runnable:v1`])).out).toBe(RUNNABLE_OUTPUT);
});

test("what docker save writes imports back, then pulls and runs", async () => {
  const file = path.join(work, "saved.tar");
  await dockerd.docker(["tag", `${registry.host}/team/runnable:v1`, "local/saved:v7"]);
  await dockerd.docker(["save", "-o", file, "local/saved:v7"]);
  const res = await fetch(`${registry.url}/api/v1/repositories/team/from-docker/-/import`, {
    method: "POST",
    headers: headersFor(admin, { "Content-Type": "application/x-tar" }),
    body: await readFile(file),
  });
  const body = (await res.json()) as { images: Array<{ tag: string }> };
  expect({ status: res.status, body }).toMatchObject({ status: 201, body: { images: [{ tag: "v7" }] } });
  await dockerd.docker(["login", "-u", "admin", "--password-stdin", registry.host], { input: PASSWORD });
  const ref = `${registry.host}/team/from-docker:v7`;
  await dockerd.docker(["pull", ref]);
  expect((await dockerd.docker(["run", "--rm", "--network", "none", ref])).out).toBe(RUNNABLE_OUTPUT);
});

test("docker search finds what the caller may pull, through /v1/search", async () => {
  const search = async () => (await dockerd.docker(["search", "--format", "{{.Name}}", `${registry.host}/runnable`])).out.split("\n").filter(Boolean);
  await dockerd.docker(["logout", registry.host]);
  expect(await search()).toEqual(["pub/runnable-public"]);
  await dockerd.docker(["login", "-u", "admin", "--password-stdin", registry.host], { input: PASSWORD });
  expect(await search()).toEqual(["pub/runnable-public", "team/runnable"]);
});
