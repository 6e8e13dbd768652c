// The web UI's API on an open registry (auth off) and the embedded database (PGlite): no login needed,
// everyone is treated as an administrator, and the trigger-maintained repository figures work there too.
import { buildImage, buildIndex, MediaTypes } from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { seedImage, seedManifest } from "../support/web-client";

let registry: TestRegistry;

beforeAll(async () => {
  registry = await startTestRegistry({ database: "embedded" });
});

afterAll(async () => {
  await registry?.stop();
});

test("the session says auth is off and the UI needs no login", async () => {
  const session = await (await fetch(`${registry.url}/api/v1/session`)).json();
  expect(session).toMatchObject({ authEnabled: false, user: { kind: "open", isAdmin: true }, csrfToken: null });
  expect((await fetch(`${registry.url}/api/v1/users`)).status).toBe(200);
  expect((await fetch(`${registry.url}/api/v1/storage`)).status).toBe(200);
});

test("size, tag count, pushes and pulls are kept by the triggers on PGlite too", async () => {
  const a = buildImage({ layers: 2, layerSize: 100 });
  const b = buildImage({ layers: 1, layerSize: 50 });
  await seedImage(registry.deps, "open/app", a, "1");
  await seedImage(registry.deps, "open/app", b);
  await seedManifest(registry.deps, "open/app", buildIndex([a, b]), "multi");
  const sizeOf = (img: typeof a) => [img.config, ...img.layers].reduce((s, x) => s + x.data.length, 0);
  const repo = async () => (await (await fetch(`${registry.url}/api/v1/repositories/open/app`)).json()) as Record<string, unknown>;
  expect(await repo()).toMatchObject({ tagCount: 2, sizeBytes: sizeOf(a) + sizeOf(b), pullCount: 0, actions: ["pull", "push", "delete"] });

  // Pull by tag twice, then the index and one of its platforms by digest: the platform GET is not a second pull.
  for (const ref of ["1", "1", "multi", b.digest]) {
    const res = await fetch(`${registry.url}/v2/open/app/manifests/${ref}`, { headers: { Accept: `${MediaTypes.OCI_INDEX}, ${MediaTypes.OCI_MANIFEST}` } });
    expect(res.status).toBe(200);
  }
  await registry.deps.audit.flush();
  expect(await repo()).toMatchObject({ pullCount: 3, lastPulledAt: expect.any(String) });

  // Unlinking a blob and deleting a tag take them off the figures.
  expect((await fetch(`${registry.url}/v2/open/app/blobs/${b.layers[0].descriptor.digest}`, { method: "DELETE" })).status).toBe(202);
  expect((await fetch(`${registry.url}/api/v1/repositories/open/app/-/tags/1`, { method: "DELETE" })).status).toBe(204);
  expect(await repo()).toMatchObject({ tagCount: 1, sizeBytes: sizeOf(a) + b.config.data.length });

  // A blob deleted outright (as garbage collection will) leaves the repositories linking it.
  await registry.deps.database.query(`DELETE FROM blob WHERE digest = $1`, [a.layers[0].descriptor.digest]);
  expect((await repo()).sizeBytes).toBe(sizeOf(a) - a.layers[0].data.length + b.config.data.length);
});

test("import and export work without credentials", async () => {
  const image = buildImage({ layers: 1 });
  await seedImage(registry.deps, "open/src", image, "v1");
  const tar = Buffer.from(await (await fetch(`${registry.url}/api/v1/repositories/open/src/-/export/v1`)).arrayBuffer());
  const res = await fetch(`${registry.url}/api/v1/repositories/open/dst/-/import?tag=copy`, { method: "POST", headers: { "Content-Type": "application/x-tar" }, body: tar });
  expect(res.status).toBe(201);
  expect((await fetch(`${registry.url}/v2/open/dst/manifests/copy`, { method: "HEAD", headers: { Accept: MediaTypes.OCI_MANIFEST } })).headers.get("docker-content-digest")).toBe(image.digest);
});
