// The JSON API behind the web UI, against the real server with auth on: browser sessions (cookie, CSRF,
// logout), that every endpoint enforces auth (anonymous 401, wrong role 403), repository and tag listing,
// image details, delete, retag/copy, export and import of image archives, docker search, storage and GC.
import { createHash } from "node:crypto";
import type { GcService } from "../../src/admin/gc-api";
import { buildImage, buildIndex, expectOciError, getManifest, uniqueSuffix, MediaTypes, type BuiltImage } from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, headersFor, login, seedImage, seedManifest, tarOf, untar, uploadArchive, type As, type Session } from "../support/web-client";

jest.setTimeout(120_000);

const ADMIN_PASSWORD = "admin-pass-1";
const PASSWORD = "user-pass-12";
let registry: TestRegistry;
let base: string;
let admin: Session;
const as: Record<string, Session> = {};
let ci: As;

const config = (extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: "2026-01-02T03:04:05Z",
      config: {
        Entrypoint: ["/entry.sh"],
        Cmd: ["serve", "--port", "8080"],
        Env: ["PATH=/usr/bin:/bin", "MODE=prod"],
        Labels: { "org.opencontainers.image.source": "https://example.test/app" },
        ExposedPorts: { "8080/tcp": {} },
        WorkingDir: "/srv",
        User: "app",
      },
      rootfs: { type: "layers", diff_ids: [] },
      history: [
        { created: "2026-01-01T00:00:00Z", created_by: "ADD rootfs.tar /" },
        { created: "2026-01-01T00:00:01Z", created_by: "ENV MODE=prod", empty_layer: true },
        { created: "2026-01-01T00:00:02Z", created_by: "COPY app /srv/app" },
      ],
      nonce: uniqueSuffix(),
      ...extra,
    }),
  );

let app1: BuiltImage;
let amd: BuiltImage;
let arm: BuiltImage;

beforeAll(async () => {
  // The test client is the trusted (loopback) proxy that says whether the browser's side was HTTPS.
  registry = await startTestRegistry({
    config: { auth: { enabled: true, adminPassword: ADMIN_PASSWORD }, web: { importMaxBytes: 3 * 1024 * 1024 }, trustedProxies: ["loopback"] },
  });
  base = registry.url;
  admin = await login(base, "admin", ADMIN_PASSWORD);
  for (const name of ["alice", "bob", "carol", "mona"]) {
    expect((await api(base, "POST", "/api/v1/users", admin, { username: name, password: PASSWORD })).status).toBe(201);
  }
  expect((await api(base, "POST", "/api/v1/projects", admin, { name: "team-a" })).status).toBe(201);
  expect((await api(base, "POST", "/api/v1/projects", admin, { name: "pub", public: true })).status).toBe(201);
  for (const [user, role] of [["alice", "developer"], ["bob", "guest"], ["mona", "maintainer"]]) {
    expect((await api(base, "PUT", `/api/v1/projects/team-a/members/${user}`, admin, { role })).status).toBe(204);
  }
  const robot = await api(base, "POST", "/api/v1/robots", admin, { name: "ci", permissions: [{ project: "team-a", actions: ["pull"] }] });
  ci = { basic: ["robot$ci", ((await robot.json()) as { secret: string }).secret] };
  for (const name of ["alice", "bob", "carol", "mona"]) as[name] = await login(base, name, PASSWORD);

  app1 = buildImage({ config: config(), layers: 2, layerSize: 1000 });
  await seedImage(registry.deps, "team-a/app", app1, "1.0");
  amd = buildImage({ config: config(), layers: 1, layerSize: 300 });
  arm = buildImage({ config: config({ architecture: "arm64", variant: "v8" }), layers: 1, layerSize: 400 });
  await seedImage(registry.deps, "team-a/app", amd);
  await seedImage(registry.deps, "team-a/app", arm);
  await seedManifest(registry.deps, "team-a/app", buildIndex([amd, arm]), "2.0");
  await seedImage(registry.deps, "team-a/other", buildImage({ config: config() }), "latest");
  await seedImage(registry.deps, "pub/tool", buildImage({ config: config(), layerSize: 5000 }), "latest");
});

afterAll(async () => {
  await registry?.stop();
});

const json = async <T = Record<string, unknown>>(res: Response, status = 200): Promise<T> => {
  const text = await res.text();
  expect({ status: res.status, text: text.slice(0, 300) }).toEqual({ status, text: expect.any(String) });
  return JSON.parse(text) as T;
};

describe("browser session", () => {
  test("login sets an HttpOnly, SameSite=Strict cookie; Secure only over HTTPS", async () => {
    const res = await fetch(`${base}/api/v1/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "alice", password: PASSWORD }),
    });
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^berth_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const body = await json<{ user: { name: string; isAdmin: boolean }; csrfToken: string }>(res);
    expect(body.user).toEqual({ name: "alice", kind: "user", isAdmin: false });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{20,}$/);

    const tls = await fetch(`${base}/api/v1/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Forwarded-Proto": "https" },
      body: JSON.stringify({ username: "alice", password: PASSWORD }),
    });
    expect(tls.headers.get("set-cookie")).toMatch(/; Secure$/);
  });

  test("GET /api/v1/session tells who is logged in, and the CSRF token only to the cookie's owner", async () => {
    const anonymous = await json<{ user: unknown; csrfToken: unknown; authEnabled: boolean }>(await fetch(`${base}/api/v1/session`));
    expect(anonymous).toMatchObject({ authEnabled: true, user: null, csrfToken: null, registry: registry.host });
    const mine = await json<{ user: { name: string }; csrfToken: string }>(await api(base, "GET", "/api/v1/session", as.bob));
    expect(mine.user.name).toBe("bob");
    expect(mine.csrfToken).toBe(as.bob.csrf);
  });

  test("bad credentials, robots and non-JSON logins are refused", async () => {
    const wrong = await fetch(`${base}/api/v1/session`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "carol", password: "nope-nope" }) });
    await expectOciError(wrong, 401, "UNAUTHORIZED");
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const robot = await fetch(`${base}/api/v1/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: (ci as { basic: string[] }).basic[0], password: (ci as { basic: string[] }).basic[1] }),
    });
    await expectOciError(robot, 403, "DENIED");
    const form = await fetch(`${base}/api/v1/session`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ username: "carol", password: PASSWORD }) });
    await expectOciError(form, 400, "INVALID_REQUEST");
  });

  test("the admin API accepts the cookie; unsafe methods need the CSRF header", async () => {
    expect((await api(base, "GET", "/api/v1/users", admin)).status).toBe(200);
    const noCsrf = await fetch(`${base}/api/v1/users`, {
      method: "POST",
      headers: { Cookie: admin.cookie, "Content-Type": "application/json" },
      body: JSON.stringify({ username: "eve", password: PASSWORD }),
    });
    await expectOciError(noCsrf, 403, "DENIED");
    const wrongCsrf = await fetch(`${base}/api/v1/users`, {
      method: "POST",
      headers: { Cookie: admin.cookie, "X-Berth-CSRF": as.alice.csrf, "Content-Type": "application/json" },
      body: JSON.stringify({ username: "eve", password: PASSWORD }),
    });
    await expectOciError(wrongCsrf, 403, "DENIED");
    expect((await api(base, "POST", "/api/v1/users", admin, { username: "eve", password: PASSWORD })).status).toBe(201);
    // The UI's requests get no Basic challenge (the browser would pop up its own login dialog).
    const ui = await fetch(`${base}/api/v1/users`, { headers: { "X-Berth-CSRF": "-" } });
    expect(ui.status).toBe(401);
    expect(ui.headers.get("www-authenticate")).toBeNull();
    expect((await fetch(`${base}/api/v1/users`)).headers.get("www-authenticate")).toBe('Basic realm="berth"');
  });

  test("logout ends the session on the server, not only in the browser", async () => {
    const s = await login(base, "carol", PASSWORD);
    expect((await api(base, "GET", "/api/v1/me", s)).status).toBe(200);
    await expectOciError(await fetch(`${base}/api/v1/session`, { method: "DELETE", headers: { Cookie: s.cookie } }), 403, "DENIED");
    const out = await api(base, "DELETE", "/api/v1/session", s);
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/^berth_session=; .*Max-Age=0/);
    await expectOciError(await api(base, "GET", "/api/v1/me", s), 401, "UNAUTHORIZED");
  });

  test("a new password ends the account's sessions", async () => {
    expect((await api(base, "POST", "/api/v1/users", admin, { username: "paul", password: PASSWORD })).status).toBe(201);
    const s = await login(base, "paul", PASSWORD);
    expect((await api(base, "PATCH", "/api/v1/users/paul", admin, { password: "another-pass-1" })).status).toBe(200);
    await expectOciError(await api(base, "GET", "/api/v1/me", s), 401, "UNAUTHORIZED");
  });

  test("a disabled account's session stops working", async () => {
    expect((await api(base, "POST", "/api/v1/users", admin, { username: "dora", password: PASSWORD })).status).toBe(201);
    const s = await login(base, "dora", PASSWORD);
    expect((await api(base, "PATCH", "/api/v1/users/dora", admin, { disabled: true })).status).toBe(200);
    await expectOciError(await api(base, "GET", "/api/v1/me", s), 401, "UNAUTHORIZED");
  });
});

describe("auth is enforced on every endpoint", () => {
  // [method, path, body?]: administrators only.
  const adminOnly: Array<[string, string, unknown?]> = [
    ["GET", "/api/v1/users"],
    ["POST", "/api/v1/users", { username: "x1", password: PASSWORD }],
    ["PATCH", "/api/v1/users/carol", { disabled: false }],
    ["DELETE", "/api/v1/users/nobody"],
    ["GET", "/api/v1/robots"],
    ["POST", "/api/v1/robots", { name: "x", permissions: [{ project: "team-a", actions: ["pull"] }] }],
    ["DELETE", "/api/v1/robots/robot$nobody"],
    ["GET", "/api/v1/projects"],
    ["POST", "/api/v1/projects", { name: "x2" }],
    ["DELETE", "/api/v1/projects/pub"],
    ["GET", "/api/v1/audit"],
    ["GET", "/api/v1/mirror"],
    ["POST", "/api/v1/mirror/warm", { image: "library/alpine:3" }],
    ["GET", "/api/v1/gc"],
    ["GET", "/api/v1/storage"],
    ["POST", "/api/v1/gc/dry-run"],
    ["POST", "/api/v1/gc/runs"],
    ["GET", "/api/v1/gc/runs"],
  ];
  // (A rest parameter: jest would take a third declared parameter of a two-item row for `done`.)
  test.each(adminOnly)("%s %s: anonymous 401, a user 403", async (...[method, path, body]) => {
    await expectOciError(await api(base, method, path, null, body), 401, "UNAUTHORIZED");
    await expectOciError(await api(base, method, path, as.alice, body), 403, "DENIED");
  });

  // Project administration: the project's admins (and Berth admins) only.
  test.each<[string, string, unknown?]>([
    ["GET", "/api/v1/projects/team-a/members"],
    ["PUT", "/api/v1/projects/team-a/members/carol", { role: "guest" }],
    ["DELETE", "/api/v1/projects/team-a/members/bob"],
    ["PATCH", "/api/v1/projects/team-a", { public: true }],
  ])("%s %s: anonymous 401, a maintainer 403", async (...[method, path, body]) => {
    await expectOciError(await api(base, method, path, null, body), 401, "UNAUTHORIZED");
    await expectOciError(await api(base, method, path, as.mona, body), 403, "DENIED");
  });

  // Repository reads: anonymous 401 on a private project, an outsider 403, a guest and a pull robot 200.
  test.each([
    "/api/v1/repositories/team-a/app",
    "/api/v1/repositories/team-a/app/-/tags",
    "/api/v1/repositories/team-a/app/-/manifests/1.0",
    "/api/v1/repositories/team-a/app/-/export/1.0",
  ])("GET %s", async (path) => {
    await expectOciError(await api(base, "GET", path, null), 401, "UNAUTHORIZED");
    await expectOciError(await api(base, "GET", path, as.carol), 403, "DENIED");
    expect((await api(base, "GET", path, as.bob)).status).toBe(200);
    expect((await api(base, "GET", path, ci)).status).toBe(200);
  });

  test("repository writes need the role: delete for maintainers, push for developers", async () => {
    for (const path of ["/api/v1/repositories/team-a/app/-/tags/1.0", `/api/v1/repositories/team-a/app/-/manifests/${app1.digest}`]) {
      await expectOciError(await api(base, "DELETE", path, null), 401, "UNAUTHORIZED");
      await expectOciError(await api(base, "DELETE", path, as.bob), 403, "DENIED");
      await expectOciError(await api(base, "DELETE", path, as.alice), 403, "DENIED");
      await expectOciError(await api(base, "DELETE", path, ci), 403, "DENIED");
    }
    const copy = { reference: "1.0", tag: "copied" };
    await expectOciError(await api(base, "POST", "/api/v1/repositories/team-a/app/-/copy", null, copy), 401, "UNAUTHORIZED");
    await expectOciError(await api(base, "POST", "/api/v1/repositories/team-a/app/-/copy", as.bob, copy), 403, "DENIED");
    await expectOciError(await api(base, "POST", "/api/v1/repositories/team-a/app/-/copy", as.alice, { ...copy, repository: "pub/stolen" }), 403, "DENIED");
    const archive = await tarOf([{ name: "hello", data: Buffer.from("x") }]);
    await expectOciError(await uploadArchive(base, "team-a/app", archive, null), 401, "UNAUTHORIZED");
    await expectOciError(await uploadArchive(base, "team-a/app", archive, as.bob), 403, "DENIED");
  });
});

describe("repositories", () => {
  const names = async (as: As, query = "") =>
    (await json<{ items: Array<{ name: string }> }>(await api(base, "GET", `/api/v1/repositories${query}`, as))).items.map((r) => r.name);

  test("each caller sees what it may pull", async () => {
    expect(await names(null)).toEqual(["pub/tool"]);
    expect(await names(as.carol)).toEqual(["pub/tool"]);
    expect(await names(as.bob)).toEqual(["pub/tool", "team-a/app", "team-a/other"]);
    expect(await names(ci)).toEqual(["pub/tool", "team-a/app", "team-a/other"]);
    expect(await names(admin)).toEqual(expect.arrayContaining(["pub/tool", "team-a/app", "team-a/other"]));
  });

  test("search, project filter, sorting and pages", async () => {
    expect(await names(admin, "?q=APP")).toEqual(["team-a/app"]);
    expect(await names(admin, "?project=team-a")).toEqual(["team-a/app", "team-a/other"]);
    expect(await names(admin, "?project=team")).toEqual([]);
    const bySize = await json<{ items: Array<{ name: string; sizeBytes: number; tagCount: number }> }>(await api(base, "GET", "/api/v1/repositories?sort=size&project=team-a", admin));
    expect(bySize.items[0].name).toBe("team-a/app");
    const app = bySize.items[0];
    const expectedSize = [app1, amd, arm].flatMap((i) => [i.config, ...i.layers]).reduce((s, b) => s + b.data.length, 0);
    expect(app).toMatchObject({ sizeBytes: expectedSize, tagCount: 2 });
    const page2 = await json<{ items: Array<{ name: string }>; total: number; page: number }>(await api(base, "GET", "/api/v1/repositories?pageSize=1&page=2&project=team-a&sort=name&order=desc", admin));
    expect(page2).toMatchObject({ total: 2, page: 2, pageSize: 1, items: [{ name: "team-a/app" }] });
    await expectOciError(await api(base, "GET", "/api/v1/repositories?sort=stars", admin), 400, "INVALID_REQUEST");
    await expectOciError(await api(base, "GET", "/api/v1/repositories?pageSize=1000", admin), 400, "INVALID_REQUEST");
  });

  test("pulls are counted from the registry's own pull events", async () => {
    const basic = { Authorization: headersFor({ basic: ["bob", PASSWORD] }).Authorization };
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/v2/team-a/other/manifests/latest`, { headers: { ...basic, Accept: MediaTypes.OCI_MANIFEST } });
      expect(res.status).toBe(200);
    }
    await registry.deps.audit.flush();
    const list = await json<{ items: Array<{ name: string; pullCount: number; lastPulledAt: string | null }> }>(await api(base, "GET", "/api/v1/repositories?sort=pulls&project=team-a", admin));
    expect(list.items[0]).toMatchObject({ name: "team-a/other", pullCount: 3, lastPulledAt: expect.any(String) });
    const tags = await json<{ items: Array<{ name: string; lastPulledAt: string | null }> }>(await api(base, "GET", "/api/v1/repositories/team-a/other/-/tags", admin));
    expect(tags.items[0].lastPulledAt).not.toBeNull();
  });

  test("a multi-platform pull counts once: a platform manifest fetched by digest after its index is not a pull of its own", async () => {
    const basic = { Authorization: headersFor({ basic: ["bob", PASSWORD] }).Authorization };
    const pullCount = async () => {
      await registry.deps.audit.flush();
      const list = await json<{ items: Array<{ name: string; pullCount: number }> }>(await api(base, "GET", "/api/v1/repositories?sort=name&project=team-a", admin));
      return list.items.find((r) => r.name === "team-a/app")!.pullCount;
    };
    const before = await pullCount();
    const get = async (reference: string, accept: string) => {
      const res = await fetch(`${base}/v2/team-a/app/manifests/${reference}`, { headers: { ...basic, Accept: accept } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    };
    await get("2.0", MediaTypes.OCI_INDEX); // the index: counted
    for (let i = 0; i < 3; i++) await get(amd.digest, MediaTypes.OCI_MANIFEST); // a platform of it, by digest: not counted
    await get(app1.digest, MediaTypes.OCI_MANIFEST); // a manifest no index lists, by digest: counted
    expect(await pullCount()).toBe(before + 2);
  });

  test("a repository's page: figures and what the caller may do", async () => {
    const detail = await json(await api(base, "GET", "/api/v1/repositories/team-a/app", as.alice));
    expect(detail).toMatchObject({ name: "team-a/app", project: "team-a", public: false, tagCount: 2, actions: ["pull", "push"] });
    expect((await json(await api(base, "GET", "/api/v1/repositories/team-a/app", as.mona))).actions).toEqual(["pull", "push", "delete"]);
    await expectOciError(await api(base, "GET", "/api/v1/repositories/team-a/nothing", admin), 404, "NAME_UNKNOWN");
  });

  test("tags: digest, size, platforms of indexes, search and sort", async () => {
    const tags = await json<{ total: number; items: Array<Record<string, unknown>> }>(await api(base, "GET", "/api/v1/repositories/team-a/app/-/tags?sort=name", as.bob));
    expect(tags.total).toBe(2);
    const [one, two] = tags.items;
    // A single image's platform is its config's.
    expect(one).toMatchObject({ name: "1.0", digest: app1.digest, kind: "image", size: app1.bytes.length + app1.config.data.length + 2000, platforms: [{ os: "linux", architecture: "amd64", digest: app1.digest }] });
    expect(two).toMatchObject({
      name: "2.0",
      kind: "index",
      platforms: [
        { os: "linux", architecture: "amd64", digest: amd.digest },
        { os: "linux", architecture: "arm64", variant: "v8", digest: arm.digest },
      ],
    });
    expect(two.size).toBeGreaterThan(700);
    const found = await json<{ items: Array<{ name: string }> }>(await api(base, "GET", "/api/v1/repositories/team-a/app/-/tags?q=2.", as.bob));
    expect(found.items.map((t) => t.name)).toEqual(["2.0"]);
  });
});

describe("images", () => {
  test("an image's config, layers with their history, and referrers", async () => {
    const sbom = buildImage({ artifactType: "application/spdx+json", subject: app1.descriptor, layers: 1 });
    await seedImage(registry.deps, "team-a/app", sbom);
    const image = await json<Record<string, any>>(await api(base, "GET", "/api/v1/repositories/team-a/app/-/manifests/1.0", as.bob));
    expect(image).toMatchObject({ digest: app1.digest, kind: "image", tags: ["1.0"], mediaType: MediaTypes.OCI_MANIFEST });
    expect(image.config).toMatchObject({
      architecture: "amd64",
      os: "linux",
      entrypoint: ["/entry.sh"],
      cmd: ["serve", "--port", "8080"],
      env: ["PATH=/usr/bin:/bin", "MODE=prod"],
      labels: { "org.opencontainers.image.source": "https://example.test/app" },
      exposedPorts: ["8080/tcp"],
      workingDir: "/srv",
      user: "app",
    });
    expect(image.layers.map((l: any) => [l.layer?.digest ?? null, l.step?.createdBy])).toEqual([
      [app1.layers[0].descriptor.digest, "ADD rootfs.tar /"],
      [null, "ENV MODE=prod"],
      [app1.layers[1].descriptor.digest, "COPY app /srv/app"],
    ]);
    expect(image.referrers).toEqual([expect.objectContaining({ digest: sbom.digest, artifactType: "application/spdx+json" })]);
  });

  test("an index: its platforms", async () => {
    const index = await json<Record<string, any>>(await api(base, "GET", "/api/v1/repositories/team-a/app/-/manifests/2.0", as.bob));
    expect(index.kind).toBe("index");
    expect(index.children.map((c: any) => [c.digest, c.platform.architecture, c.stored])).toEqual([
      [amd.digest, "amd64", true],
      [arm.digest, "arm64", true],
    ]);
    await expectOciError(await api(base, "GET", "/api/v1/repositories/team-a/app/-/manifests/nope", as.bob), 404, "MANIFEST_UNKNOWN");
  });

  test("retag and copy to another repository without copying bytes", async () => {
    const same = await api(base, "POST", "/api/v1/repositories/team-a/app/-/copy", as.alice, { reference: "2.0", tag: "stable" });
    expect(await json(same, 201)).toMatchObject({ repository: "team-a/app", tag: "stable" });
    const other = await api(base, "POST", "/api/v1/repositories/team-a/app/-/copy", as.alice, { reference: "2.0", repository: "team-a/copy", tag: "v2" });
    expect(await json(other, 201)).toMatchObject({ repository: "team-a/copy", tag: "v2" });
    const basic = headersFor({ basic: ["alice", PASSWORD] });
    const res = await fetch(`${base}/v2/team-a/copy/manifests/v2`, { headers: { ...basic, Accept: MediaTypes.OCI_INDEX } });
    expect(res.status).toBe(200);
    const blob = await fetch(`${base}/v2/team-a/copy/blobs/${arm.layers[0].descriptor.digest}`, { headers: basic });
    expect(Buffer.from(await blob.arrayBuffer()).equals(arm.layers[0].data)).toBe(true);
    // A user who may create projects gets a new project, as with docker push.
    const fresh = await api(base, "POST", "/api/v1/repositories/team-a/app/-/copy", as.alice, { reference: "1.0", repository: "alice-space/app", tag: "1" });
    expect(fresh.status).toBe(201);
  });

  test("export: a docker-load-able tarball (docker save's manifest.json over an OCI layout)", async () => {
    const res = await api(base, "GET", "/api/v1/repositories/team-a/app/-/export/2.0?platform=linux/arm64/v8", as.bob);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-tar");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="team-a_app_2.0_linux-arm64-v8.tar"');
    const files = await untar(Buffer.from(await res.arrayBuffer()));
    const hex = (d: string) => d.split(":")[1];
    const [entry] = JSON.parse(files.get("manifest.json")!.toString());
    expect(entry).toEqual({
      Config: `blobs/sha256/${hex(arm.config.descriptor.digest)}`,
      RepoTags: [`${registry.host}/team-a/app:2.0`],
      Layers: [`blobs/sha256/${hex(arm.layers[0].descriptor.digest)}`],
    });
    const index = JSON.parse(files.get("index.json")!.toString());
    expect(index.manifests[0]).toMatchObject({ digest: arm.digest, annotations: { "org.opencontainers.image.ref.name": "2.0" } });
    for (const [name, data] of files) {
      if (name.startsWith("blobs/sha256/")) expect(createHash("sha256").update(data).digest("hex")).toBe(name.slice(13));
    }
    expect(files.get("oci-layout")!.toString()).toBe('{"imageLayoutVersion":"1.0.0"}');
    await expectOciError(await api(base, "GET", "/api/v1/repositories/team-a/app/-/export/2.0?platform=windows/amd64", as.bob), 404, "MANIFEST_UNKNOWN");
  });

  test("delete a tag, then a manifest with every tag on it", async () => {
    await seedImage(registry.deps, "team-a/app", buildImage({ config: config() }), "doomed");
    expect((await api(base, "DELETE", "/api/v1/repositories/team-a/app/-/tags/doomed", as.mona)).status).toBe(204);
    await expectOciError(await api(base, "DELETE", "/api/v1/repositories/team-a/app/-/tags/doomed", as.mona), 404, "MANIFEST_UNKNOWN");
    const victim = buildImage({ config: config() });
    await seedImage(registry.deps, "team-a/app", victim, "a");
    await seedManifest(registry.deps, "team-a/app", victim, "b");
    expect((await api(base, "DELETE", `/api/v1/repositories/team-a/app/-/manifests/${victim.digest}`, as.mona)).status).toBe(204);
    const tags = await json<{ items: Array<{ name: string }> }>(await api(base, "GET", "/api/v1/repositories/team-a/app/-/tags?sort=name&pageSize=100", admin));
    expect(tags.items.map((t) => t.name)).not.toEqual(expect.arrayContaining(["a"]));
    await expectOciError(await api(base, "DELETE", "/api/v1/repositories/team-a/app/-/manifests/1.0", as.mona), 400, "INVALID_REQUEST");
    await registry.deps.audit.flush();
    const events = await json<Array<{ action: string; reference: string; actor: string }>>(await api(base, "GET", "/api/v1/audit?action=delete&repository=team-a/app", admin));
    expect(events.map((e) => [e.actor, e.reference])).toEqual(expect.arrayContaining([["mona", "doomed"], ["mona", victim.digest]]));
  });
});

describe("import", () => {
  const layer = Buffer.from("not really a tar, but bytes are bytes");
  const cfg = config();
  const cfgDigest = createHash("sha256").update(cfg).digest("hex");
  const layerDigest = createHash("sha256").update(layer).digest("hex");

  test("a classic docker save archive (manifest.json, <id>/layer.tar, symlinked duplicates)", async () => {
    const archive = await tarOf([
      { name: "abc", dir: true },
      { name: "abc/layer.tar", data: layer },
      { name: "def", dir: true },
      { name: "def/layer.tar", symlink: "../abc/layer.tar" },
      { name: `${cfgDigest}.json`, data: cfg },
      { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: `${cfgDigest}.json`, RepoTags: ["example.test/app:saved"], Layers: ["abc/layer.tar", "def/layer.tar"] }])) },
    ]);
    const res = await uploadArchive(base, "team-a/imported", archive, as.alice);
    const body = await json<{ format: string; images: Array<{ tag: string; digest: string }> }>(res, 201);
    expect(body).toMatchObject({ format: "docker-save", images: [{ tag: "saved" }] });
    const manifest: any = await (await fetch(`${base}/v2/team-a/imported/manifests/saved`, { headers: { ...headersFor({ basic: ["alice", PASSWORD] }), Accept: MediaTypes.OCI_MANIFEST } })).json();
    expect(manifest.config.digest).toBe(`sha256:${cfgDigest}`);
    expect(manifest.layers.map((l: { digest: string; mediaType: string }) => [l.digest, l.mediaType])).toEqual([
      [`sha256:${layerDigest}`, "application/vnd.oci.image.layer.v1.tar"],
      [`sha256:${layerDigest}`, "application/vnd.oci.image.layer.v1.tar"],
    ]);
  });

  test("an OCI layout tarball, gzipped, under the tag asked for", async () => {
    const image = buildImage({ config: cfg, layers: 1 });
    const blobs = [image.config, ...image.layers].map((b) => ({ name: `blobs/sha256/${b.descriptor.digest.slice(7)}`, data: b.data }));
    const archive = await tarOf([
      { name: "oci-layout", data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { name: "index.json", data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...image.descriptor, annotations: { "org.opencontainers.image.ref.name": "orig" } }] })) },
      { name: `blobs/sha256/${image.digest.slice(7)}`, data: image.bytes },
      ...blobs,
    ]);
    const { gzipSync } = await import("node:zlib");
    const res = await uploadArchive(base, "team-a/imported", gzipSync(archive), as.alice, "chosen");
    expect(await json(res, 201)).toMatchObject({ format: "oci-layout", images: [{ tag: "chosen", digest: image.digest }] });
  });

  test("bad archives get a clear error", async () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from("this is not a tar archive at all, just some text that goes on and on".repeat(20)), /not a readable tar archive/],
      [await tarOf([{ name: "readme.txt", data: Buffer.from("hi") }]), /neither index\.json .* nor manifest\.json/],
      [await tarOf([{ name: "../evil", data: Buffer.from("x") }]), /points outside the archive/],
      [await tarOf([{ name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: "c.json", Layers: [] }])) }]), /c\.json \(the image config\) is not in the archive/],
      [await tarOf([{ name: "manifest.json", data: Buffer.from("{nope") }]), /manifest\.json is not valid JSON/],
    ];
    for (const [archive, message] of cases) {
      const body = await expectOciError(await uploadArchive(base, "team-a/imported", archive, as.alice), 400, "INVALID_REQUEST");
      expect(String(body.errors[0].detail)).toMatch(message);
    }
    const none = await fetch(`${base}/api/v1/repositories/team-a/imported/-/import`, { method: "POST", headers: headersFor(as.alice), body: new FormData() });
    expect(none.status).toBe(400);
  });

  test("archives over the size limit are refused with 413", async () => {
    const big = await tarOf([{ name: "blobs/sha256/big", data: Buffer.alloc(4 * 1024 * 1024, 7) }]);
    await expectOciError(await uploadArchive(base, "team-a/imported", big, as.alice), 413, "SIZE_INVALID");
    const raw = await fetch(`${base}/api/v1/repositories/team-a/imported/-/import`, { method: "POST", headers: headersFor(as.alice, { "Content-Type": "application/x-tar" }), body: big });
    await expectOciError(raw, 413, "SIZE_INVALID");
  });

  test("an exported image imports back (round trip)", async () => {
    const exported = Buffer.from(await (await api(base, "GET", "/api/v1/repositories/team-a/app/-/export/1.0", as.alice)).arrayBuffer());
    const res = await uploadArchive(base, "team-a/roundtrip", exported, as.alice, "back");
    expect(await json(res, 201)).toMatchObject({ images: [{ tag: "back", digest: app1.digest }] });
  });
});

describe("docker search (GET /v1/search)", () => {
  test("answers in the v1 format, honouring the caller's rights", async () => {
    const anonymous = await json<Record<string, any>>(await fetch(`${base}/v1/search?q=tool&n=10`));
    expect(anonymous).toMatchObject({ query: "tool", num_results: 1, page: 1, page_size: 10, num_pages: 1 });
    expect(anonymous.results[0]).toMatchObject({ name: "pub/tool", description: "", star_count: 0, is_official: false, is_automated: false });
    expect((await json<Record<string, any>>(await fetch(`${base}/v1/search?q=app`))).num_results).toBe(0);
    const bob = await json<Record<string, any>>(await fetch(`${base}/v1/search?q=app`, { headers: headersFor({ basic: ["bob", PASSWORD] }) }));
    expect(bob.results.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(["team-a/app"]));
  });
});

describe("storage and garbage collection", () => {
  test("storage use and garbage collection come from the real collector, for admins only", async () => {
    const usage = await json<{ totalBytes: number; blobCount: number; repositories: Array<{ name: string; bytes: number }> }>(await api(base, "GET", "/api/v1/storage", admin));
    expect(usage.totalBytes).toBeGreaterThan(0);
    expect(usage.repositories.map((r) => r.name)).toContain("team-a/app");
    expect(await json(await api(base, "GET", "/api/v1/gc", admin))).toEqual({ available: true });
    const dry = await json<{ dryRun: boolean; manifestsDeleted: number; blobsDeleted: number; bytesFreed: number }>(
      await api(base, "POST", "/api/v1/gc/dry-run", admin),
    );
    expect(dry).toMatchObject({ dryRun: true });
    expect(dry.bytesFreed).toBeGreaterThanOrEqual(0);
    const run = await json<{ dryRun: boolean }>(await api(base, "POST", "/api/v1/gc/runs", admin));
    expect(run).toMatchObject({ dryRun: false });
    const history = await json<Array<{ id: string; status: string; dryRun: boolean }>>(await api(base, "GET", "/api/v1/gc/runs?limit=5", admin));
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(history[0]).toMatchObject({ status: "succeeded", dryRun: false });
    // The registry still serves what is reachable after a real collection.
    expect((await api(base, "GET", "/api/v1/storage", admin)).status).toBe(200);
  });
});

describe("the web UI's files", () => {
  test("/ and the app's own paths serve index.html; API paths keep their JSON 404s", async () => {
    for (const path of ["/", "/repositories/team-a/app", "/users"]) {
      const res = await fetch(`${base}${path}`);
      expect([200, 503]).toContain(res.status);
      if (res.status === 200) {
        expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
        expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
        expect(await res.text()).toContain("<div id=\"app\">");
      }
    }
    await expectOciError(await fetch(`${base}/api/v1/nothing`), 404, "NOT_FOUND");
    await expectOciError(await fetch(`${base}/v2/nothing/here`), 404, "NOT_FOUND");
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${base}/%2e%2e/package.json`)).status).not.toBe(200);
    expect((await getManifest(base, "team-a/app", "1.0")).status).toBe(401);
  });
});
