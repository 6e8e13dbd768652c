// Issue 15, item 3: project storage quotas. A quota is set by administrators through the JSON API; usage
// counts each digest once per project; a push with no room left is refused with 403 DENIED naming the quota
// and the usage, at blob upload (monolithic, finishing a session, mount) and at manifest PUT; pushes racing
// on two replicas of one database never overshoot; deletes and GC give the room back; the refusal is audited.
import {
  ADMIN_PASSWORD,
  basic,
  outcome,
  pushBlobAs,
  pushImageAs,
  putManifestAs,
  startAuthRegistry,
  uniqueName,
  v2,
  type Creds,
} from "../support/auth-helpers";
import { buildImage, digestOf, randomBytes, type BuiltImage } from "../support/oci-client";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import type { DatabaseKind, TestRegistry } from "../support/registry";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

const ADMIN = basic("admin", ADMIN_PASSWORD);

let database: TestDatabase;
let a: TestRegistry;
let b: TestRegistry;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = { databaseUrl: database.url };
  a = await startAuthRegistry({ config });
  b = await startAuthRegistry({ config });
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
  await database?.drop();
});

interface ProjectBody {
  name: string;
  repositories: number;
  usedBytes: number;
  quotaBytes: number | null;
}

function api(method: string, path: string, authorization: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Authorization: authorization };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${a.url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function newProject(label: string): Promise<string> {
  const name = uniqueName(label);
  const res = await api("POST", "/projects", ADMIN, { name });
  expect(res.status).toBe(201);
  return name;
}

async function setQuota(project: string, quota: unknown): Promise<ProjectBody> {
  const res = await api("PATCH", `/projects/${project}`, ADMIN, { quota });
  expect({ status: res.status, body: res.status === 200 ? "" : await res.text() }).toEqual({ status: 200, body: "" });
  return (await res.json()) as ProjectBody;
}

async function figures(project: string): Promise<ProjectBody> {
  const res = await api("GET", "/projects", ADMIN);
  expect(res.status).toBe(200);
  const found = ((await res.json()) as ProjectBody[]).find((p) => p.name === project);
  if (!found) throw new Error(`project ${project} not listed`);
  return found;
}

/** The refusal as the client sees it: status, code and message. */
async function refusal(res: Response): Promise<{ status: number; code: string; message: string; detail: unknown }> {
  const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail: unknown }> };
  return { status: res.status, ...body.errors[0] };
}

describe("setting a quota", () => {
  test("accepts sizes as people write them and bytes, and null lifts it; the list shows it", async () => {
    const project = await newProject("qset");
    expect((await setQuota(project, "10GiB")).quotaBytes).toBe(10 * 1024 ** 3);
    expect((await setQuota(project, "500MB")).quotaBytes).toBe(500_000_000);
    expect((await setQuota(project, 12345)).quotaBytes).toBe(12345);
    expect(await figures(project)).toMatchObject({ name: project, repositories: 0, usedBytes: 0, quotaBytes: 12345 });
    expect((await setQuota(project, null)).quotaBytes).toBeNull();
  });

  test.each<[string, unknown]>([
    ["a word", "ten gigs"],
    ["a negative number", -1],
    ["a fraction of a byte", 1.5],
    ["more than Berth can count", "9999999PiB"],
    ["a boolean", true],
    ["NUL in the text", "1\u0000GiB"],
    ["an empty string", ""],
  ])("refuses %s with 400 naming the field", async (_label, quota) => {
    const project = await newProject("qbad");
    const res = await api("PATCH", `/projects/${project}`, ADMIN, { quota });
    const body = await refusal(res);
    expect(body).toMatchObject({ status: 400, code: "INVALID_REQUEST" });
    expect(body.detail).toMatch(/^quota: /);
    expect((await figures(project)).quotaBytes).toBeNull();
  });

  test("a project's own admin may change its visibility but not its quota (403); unknown projects are 404", async () => {
    const project = await newProject("qrole");
    const owner: Creds = { username: uniqueName("qowner"), password: "pw-quota-owner-Secret" };
    expect((await api("POST", "/users", ADMIN, owner)).status).toBe(201);
    expect((await api("PUT", `/projects/${project}/members/${owner.username}`, ADMIN, { role: "admin" })).status).toBe(204);
    const asOwner = basic(owner.username, owner.password);
    expect((await api("PATCH", `/projects/${project}`, asOwner, { public: true })).status).toBe(200);
    expect(await refusal(await api("PATCH", `/projects/${project}`, asOwner, { quota: "100GiB" }))).toMatchObject({ status: 403, code: "DENIED" });
    expect((await figures(project)).quotaBytes).toBeNull();
    expect((await api("PATCH", `/projects/${uniqueName("nosuch")}`, ADMIN, { quota: 1 })).status).toBe(404);
  });
});

describe("enforcing a quota", () => {
  test("a blob with no room is refused at upload (monolithic, finishing a session, mount) with DENIED naming quota and usage", async () => {
    const project = await newProject("qblob");
    await setQuota(project, 10 * 1024);
    const repo = `${project}/app`;
    const first = randomBytes(6 * 1024);
    expect((await pushBlobAs(a.url, repo, first, ADMIN)).status).toBe(201);
    expect((await figures(project)).usedBytes).toBe(6 * 1024);

    // Monolithic POST ?digest=.
    const second = randomBytes(6 * 1024);
    const refused = await refusal(await pushBlobAs(a.url, repo, second, ADMIN));
    expect(refused).toMatchObject({ status: 403, code: "DENIED" });
    expect(refused.message).toBe(`project ${project} storage quota 10.0 KiB exceeded: 6.00 KiB used, this push needs 6.00 KiB more`);
    expect((await v2(a.url, `/v2/${repo}/blobs/${digestOf(second)}`, ADMIN, { method: "HEAD" })).status).toBe(404);

    // A session finished by PUT.
    const started = await v2(a.url, `/v2/${repo}/blobs/uploads/`, ADMIN, { method: "POST" });
    expect(started.status).toBe(202);
    const location = new URL(started.headers.get("location")!, a.url);
    location.searchParams.set("digest", digestOf(second));
    const finished = await v2(a.url, `${location.pathname}${location.search}`, ADMIN, {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream" },
      body: second,
    });
    expect(await refusal(finished)).toMatchObject({ status: 403, code: "DENIED" });

    // A mount from another project (unlimited) is refused too, rather than becoming an upload session.
    const other = await newProject("qsrc");
    expect((await pushBlobAs(a.url, `${other}/src`, second, ADMIN)).status).toBe(201);
    const mount = await v2(a.url, `/v2/${repo}/blobs/uploads/?mount=${digestOf(second)}&from=${other}/src`, ADMIN, { method: "POST" });
    expect(await refusal(mount)).toMatchObject({ status: 403, code: "DENIED" });

    // What fits still goes in, up to the byte.
    expect((await pushBlobAs(a.url, repo, randomBytes(4 * 1024), ADMIN)).status).toBe(201);
    expect(await figures(project)).toMatchObject({ usedBytes: 10 * 1024, quotaBytes: 10 * 1024 });
    expect((await pushBlobAs(a.url, repo, randomBytes(1), ADMIN)).status).toBe(403);

    // The refusal is an event in the audit log, with the figures.
    const events = await waitFor("the quota refusals in the audit log", async () => {
      const res = await api("GET", `/audit?action=quota.exceeded&repository=${encodeURIComponent(repo)}`, ADMIN);
      const items = (await res.json()) as Array<Record<string, unknown>>;
      return items.length >= 4 ? items : null;
    });
    expect(events[0]).toMatchObject({ action: "quota.exceeded", repository: repo });
    expect(JSON.stringify(events)).toContain(`"quotaBytes":${10 * 1024}`);
  });

  test("a manifest with no room is refused at PUT; raising the quota lets the same push through", async () => {
    const project = await newProject("qman");
    const repo = `${project}/app`;
    const image = buildImage({ layers: 2, layerSize: 2048 });
    const blobBytes = image.config.data.length + 2 * 2048;
    await setQuota(project, blobBytes);
    for (const blob of [image.config, ...image.layers]) expect((await pushBlobAs(a.url, repo, blob.data, ADMIN)).status).toBe(201);
    const refused = await refusal(await putManifestAs(a.url, repo, "v1", image, ADMIN));
    expect(refused).toMatchObject({ status: 403, code: "DENIED" });
    expect(refused.message).toContain(`this push needs ${image.bytes.length} B more`);
    expect((await v2(a.url, `/v2/${repo}/manifests/v1`, ADMIN)).status).toBe(404);

    await setQuota(project, blobBytes + image.bytes.length);
    expect((await putManifestAs(a.url, repo, "v1", image, ADMIN)).status).toBe(201);
    expect(await figures(project)).toMatchObject({ repositories: 1, usedBytes: blobBytes + image.bytes.length });

    // A quota lowered below the usage refuses the next push, deletes nothing.
    await setQuota(project, 1024);
    const next = buildImage({ layers: 1, layerSize: 16 });
    expect((await pushBlobAs(a.url, repo, next.config.data, ADMIN)).status).toBe(403);
    expect((await v2(a.url, `/v2/${repo}/manifests/v1`, ADMIN)).status).toBe(200);
  });

  test("a layer shared by two repositories of a project counts once; in another project it counts again", async () => {
    const project = await newProject("qshare");
    const shared = randomBytes(5000);
    const image = () => withLayer(buildImage({ layers: 1, layerSize: 10 }), shared);
    const one = image();
    const two = image();
    await pushImageAs(a.url, `${project}/one`, "v1", ADMIN, one);
    await pushImageAs(a.url, `${project}/two`, "v1", ADMIN, two);
    const distinct = shared.length + one.config.data.length + two.config.data.length + one.bytes.length + two.bytes.length;
    expect(await figures(project)).toMatchObject({ repositories: 2, usedBytes: distinct });

    const elsewhere = await newProject("qshare2");
    await pushImageAs(a.url, `${elsewhere}/one`, "v1", ADMIN, one);
    expect((await figures(elsewhere)).usedBytes).toBe(shared.length + one.config.data.length + one.bytes.length);
    expect((await figures(project)).usedBytes).toBe(distinct);

    // Folding the pending changes into the project rows (as every replica does periodically) changes nothing seen.
    await a.deps.database.query(`SELECT berth_fold_repository_figures()`);
    expect(await figures(project)).toMatchObject({ repositories: 2, usedBytes: distinct });

    // Deleting one repository's manifest leaves the layer held by the other: only that manifest's bytes go.
    expect((await v2(a.url, `/v2/${project}/one/manifests/${one.digest}`, ADMIN, { method: "DELETE" })).status).toBe(202);
    expect((await figures(project)).usedBytes).toBe(distinct - one.bytes.length);

    // A repository deleted (as a forced project deletion deletes them, or psql) gives back what only it held,
    // counted once although its links and manifests go by cascade.
    await a.deps.database.query(`DELETE FROM repository WHERE name = $1`, [`${project}/two`]);
    expect(await figures(project)).toMatchObject({ repositories: 1, usedBytes: shared.length + one.config.data.length });
    await a.deps.database.query(`SELECT berth_fold_repository_figures()`);
    expect((await figures(project)).usedBytes).toBe(shared.length + one.config.data.length);
  });

  test("a quota set on a project that already stores images counts what it stores", async () => {
    const project = await newProject("qlate");
    const image = await pushImageAs(a.url, `${project}/app`, "v1", ADMIN, buildImage({ layers: 1, layerSize: 3000 }));
    const stored = image.config.data.length + 3000 + image.bytes.length;
    expect((await setQuota(project, stored)).usedBytes).toBe(stored);
    expect(await refusal(await pushBlobAs(b.url, `${project}/app`, randomBytes(1), ADMIN))).toMatchObject({ status: 403, code: "DENIED" });
    await a.deps.database.query(`SELECT berth_fold_repository_figures()`);
    expect((await pushBlobAs(b.url, `${project}/other`, randomBytes(1), ADMIN)).status).toBe(403);
    // The same bytes again add nothing: a blob the project holds fits whatever the quota.
    expect((await pushBlobAs(b.url, `${project}/other`, image.layers[0].data, ADMIN)).status).toBe(201);
  });

  test("concurrent pushes on two replicas never overshoot the quota", async () => {
    const project = await newProject("qrace");
    const size = 4096;
    const room = 10;
    // Room for ten blobs and a half: twenty pushes race for it, half through each replica.
    await setQuota(project, room * size + size / 2);
    const blobs = Array.from({ length: 2 * room }, () => randomBytes(size));
    const results = await Promise.all(
      blobs.map((data, i) => pushBlobAs(i % 2 ? b.url : a.url, `${project}/r${i % 3}`, data, ADMIN).then(outcome)),
    );
    const accepted = results.filter((r) => r.status === 201).length;
    expect(results.filter((r) => r.status !== 201)).toEqual(Array.from({ length: 2 * room - accepted }, () => ({ status: 403, codes: ["DENIED"] })));
    expect(accepted).toBe(room);
    const after = await figures(project);
    expect(after.usedBytes).toBe(accepted * size);
    expect(after.usedBytes).toBeLessThanOrEqual(after.quotaBytes!);
  });

  test("deleting an image and collecting garbage gives the room back", async () => {
    const project = await newProject("qgc");
    const repo = `${project}/app`;
    const first = buildImage({ layers: 1, layerSize: 8000 });
    const total = first.config.data.length + 8000 + first.bytes.length;
    await setQuota(project, total + 100);
    await pushImageAs(a.url, repo, "v1", ADMIN, first);
    const second = buildImage({ layers: 1, layerSize: 8000 });
    expect((await pushBlobAs(a.url, repo, second.layers[0].data, ADMIN)).status).toBe(403);

    expect((await v2(a.url, `/v2/${repo}/manifests/${first.digest}`, ADMIN, { method: "DELETE" })).status).toBe(202);
    expect((await figures(project)).usedBytes).toBe(total - first.bytes.length);
    await a.deps.gc.collect({ trigger: "api", graceMs: 0 });
    expect((await figures(project)).usedBytes).toBe(0);
    await pushImageAs(b.url, repo, "v2", ADMIN, second);
    expect((await figures(project)).usedBytes).toBe(second.config.data.length + 8000 + second.bytes.length);

    // Deleting the project's last repository by deleting the project frees everything with it.
    expect((await api("DELETE", `/projects/${project}?force=true`, ADMIN)).status).toBe(204);
  });
});

/** The image with its one layer replaced by `data` (the manifest rewritten around it). */
function withLayer(image: BuiltImage, data: Buffer): BuiltImage {
  const old = image.layers[0].descriptor;
  const descriptor = { ...old, size: data.length, digest: digestOf(data) };
  const text = image.bytes.toString();
  const bytes = Buffer.from(text.replace(`"size": ${old.size},"digest" :"${old.digest}"`, `"size": ${descriptor.size},"digest" :"${descriptor.digest}"`));
  if (bytes.equals(image.bytes)) throw new Error("the layer's descriptor was not found in the manifest");
  return { ...image, bytes, digest: digestOf(bytes), descriptor: { ...image.descriptor, digest: digestOf(bytes), size: bytes.length }, layers: [{ data, descriptor }] };
}

describe("an upload session growing past the quota", () => {
  test("is refused at the PATCH that overshoots (403 DENIED naming quota and usage) and cancelled, its bytes gone", async () => {
    const project = await newProject("qgrow");
    await setQuota(project, "10KiB");
    const repo = `${project}/app`;
    expect((await pushBlobAs(a.url, repo, randomBytes(9 * 1024), ADMIN)).status).toBe(201);
    const start = await v2(a.url, `/v2/${repo}/blobs/uploads/`, ADMIN, { method: "POST" });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get("location")!, a.url).toString();
    const patch = (offset: number, data: Buffer) =>
      fetch(location, {
        method: "PATCH",
        headers: { Authorization: ADMIN, "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${offset + data.length - 1}` },
        body: data,
      });
    // Room for 1 KiB: half of it is accepted, the next chunk would overshoot.
    expect((await patch(0, randomBytes(512))).status).toBe(202);
    const refused = await refusal(await patch(512, randomBytes(10 * 1024)));
    expect(refused).toMatchObject({ status: 403, code: "DENIED" });
    expect(refused.message).toBe(`project ${project} storage quota 10.0 KiB exceeded: 9.00 KiB used, this push needs 10.5 KiB more`);
    // The session is gone: no further chunk, and its partial data is not kept until the upload timeout.
    expect((await patch(512, randomBytes(10))).status).toBe(404);
    const [{ n }] = await a.deps.database.query<{ n: number }>(`SELECT count(*)::int AS n FROM upload u JOIN repository r ON r.id = u.repository_id WHERE r.name = $1`, [repo]);
    expect(n).toBe(0);
    expect((await figures(project)).usedBytes).toBe(9 * 1024);
  });

  test("an unlimited project's session grows freely", async () => {
    const project = await newProject("qfree");
    const start = await v2(a.url, `/v2/${project}/app/blobs/uploads/`, ADMIN, { method: "POST" });
    const location = new URL(start.headers.get("location")!, a.url).toString();
    const res = await fetch(location, { method: "PATCH", headers: { Authorization: ADMIN, "Content-Type": "application/octet-stream" }, body: randomBytes(64 * 1024) });
    expect(res.status).toBe(202);
    expect((await fetch(location, { method: "DELETE", headers: { Authorization: ADMIN } })).status).toBe(204);
  });
});

describe.each<DatabaseKind>(["postgres", "embedded"])("a quota-only PATCH (%s)", (kind) => {
  let registry: TestRegistry;
  const patch = (project: string, body: unknown) =>
    fetch(`${registry.url}/api/v1/projects/${project}`, { method: "PATCH", headers: { Authorization: ADMIN, "Content-Type": "application/json" }, body: JSON.stringify(body) });

  beforeAll(async () => {
    registry = await startAuthRegistry({ database: kind });
  });
  afterAll(() => registry?.stop());

  test("sets and lifts the quota of an existing project, and answers 404 only for a missing one", async () => {
    const project = uniqueName("qonly");
    const created = await fetch(`${registry.url}/api/v1/projects`, { method: "POST", headers: { Authorization: ADMIN, "Content-Type": "application/json" }, body: JSON.stringify({ name: project }) });
    expect(created.status).toBe(201);
    const set = await patch(project, { quota: "10MiB" });
    expect({ status: set.status, body: await set.json() }).toMatchObject({ status: 200, body: { name: project, quotaBytes: 10 * 1024 ** 2 } });
    const lifted = await patch(project, { quota: null });
    expect({ status: lifted.status, body: await lifted.json() }).toMatchObject({ status: 200, body: { name: project, quotaBytes: null } });
    expect((await patch(uniqueName("nosuch"), { quota: "10MiB" })).status).toBe(404);
  });
});

describe("projects.defaultQuota", () => {
  test("caps every project created from then on, by the API or by a push; an existing quota is kept", async () => {
    const capped = await startAuthRegistry({ config: { databaseUrl: database.url, projects: { defaultQuota: "64KiB" } } });
    try {
      const viaApi = uniqueName("qdefapi");
      const created = await fetch(`${capped.url}/api/v1/projects`, { method: "POST", headers: { Authorization: ADMIN, "Content-Type": "application/json" }, body: JSON.stringify({ name: viaApi }) });
      expect(created.status).toBe(201);
      expect(((await created.json()) as ProjectBody).quotaBytes).toBe(64 * 1024);

      const viaPush = uniqueName("qdefpush");
      await pushImageAs(capped.url, `${viaPush}/app`, "v1", ADMIN, buildImage({ layers: 1, layerSize: 1024 }));
      expect((await figures(viaPush)).quotaBytes).toBe(64 * 1024);
      const refused = await refusal(await pushBlobAs(capped.url, `${viaPush}/app`, randomBytes(80 * 1024), ADMIN));
      expect(refused).toMatchObject({ status: 403, code: "DENIED" });

      // Projects from before keep what they had: none here (replica a runs without the default).
      expect((await figures(await newProject("qdefold"))).quotaBytes).toBeNull();
    } finally {
      await capped.stop();
    }
  });
});
