// Retention and immutability rules managed per project through the admin API (issue 8): who may see and
// change them, input validation, the audit log, and that stored rules act at once on the real /v2 API (an
// immutable tag cannot be overwritten) and on a GC run (retention deletes tags) — and reach another
// replica's cache on the same database within its reload interval.
import { GcService } from "../../src/gc/gc-service";
import { RefusedRulesError } from "../../src/gc/live-rules";
import { createStorageDriver } from "../../src/storage/factory";
import type { TestRegistry } from "../support/registry";
import { ADMIN_PASSWORD, addUser, basic, outcome, pushImageAs, putManifestAs, startAuthRegistry, uniqueName, v2, type Creds } from "../support/auth-helpers";
import { buildImage, buildIndex, type BuiltImage } from "../support/oci-client";
import { waitFor } from "../support/wait-for";

jest.setTimeout(60_000);

const ADMIN = basic("admin", ADMIN_PASSWORD);
let registry: TestRegistry;
let project: string;
const as: Record<"guest" | "developer" | "projectAdmin" | "otherProjectAdmin", string> = { guest: "", developer: "", projectAdmin: "", otherProjectAdmin: "" };

function api(method: string, path: string, authorization?: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (authorization) headers.Authorization = authorization;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${registry.url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function json<T = Record<string, unknown>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect({ status: res.status, body: text.slice(0, 400) }).toEqual({ status, body: expect.any(String) });
  return (text ? JSON.parse(text) : undefined) as T;
}

const auth = (c: Creds) => basic(c.username, c.password);

beforeAll(async () => {
  registry = await startAuthRegistry();
  const accounts = registry.deps.auth.accounts;
  project = uniqueName("ruled");
  const other = uniqueName("elsewhere");
  await accounts.addProject(project);
  await accounts.addProject(other);
  for (const [key, role, where] of [
    ["guest", "guest", project],
    ["developer", "developer", project],
    ["projectAdmin", "admin", project],
    ["otherProjectAdmin", "admin", other],
  ] as const) {
    const user = await addUser(registry, key.toLowerCase());
    await accounts.setMember(where, user.username, role);
    as[key] = auth(user);
  }
});

afterAll(() => registry?.stop(), 30_000);

describe("who may see and change a project's rules", () => {
  let existing: number;
  beforeAll(async () => {
    existing = (await json<{ id: number }>(await api("POST", `/projects/${project}/rules`, ADMIN, { kind: "immutable", tags: ["gate-.*"] }), 201)).id;
  });

  const views = () => [`/projects/${project}/rules`, `/projects/${project}/rules/preview`, `/repositories/${project}/app/-/rules`];
  const changes = (): Array<[string, string, unknown?]> => [
    ["POST", `/projects/${project}/rules`, { kind: "retention", keepLatest: 5 }],
    ["PUT", `/projects/${project}/rules/${existing}`, { kind: "immutable", tags: ["gate-.*", "x"] }],
    ["DELETE", `/projects/${project}/rules/${existing}`],
  ];

  test("anonymous callers get 401 everywhere", async () => {
    for (const path of views()) expect(await outcome(await api("GET", path))).toEqual({ status: 401, codes: ["UNAUTHORIZED"] });
    for (const [method, path, body] of changes()) expect(await outcome(await api(method, path, undefined, body))).toEqual({ status: 401, codes: ["UNAUTHORIZED"] });
  });

  test("guests and developers see the rules but may not change them", async () => {
    for (const who of [as.guest, as.developer]) {
      for (const path of views()) expect((await api("GET", path, who)).status).toBe(200);
      const view = await json<{ canEdit: boolean }>(await api("GET", `/projects/${project}/rules`, who), 200);
      expect(view.canEdit).toBe(false);
      for (const [method, path, body] of changes()) expect(await outcome(await api(method, path, who, body))).toEqual({ status: 403, codes: ["DENIED"] });
    }
  });

  test("the admin of another project may neither see nor change them", async () => {
    for (const path of views()) expect(await outcome(await api("GET", path, as.otherProjectAdmin))).toEqual({ status: 403, codes: ["DENIED"] });
    for (const [method, path, body] of changes()) expect(await outcome(await api(method, path, as.otherProjectAdmin, body))).toEqual({ status: 403, codes: ["DENIED"] });
  });

  test("nothing was changed by the refused calls", async () => {
    const view = await json<{ stored: Array<{ id: number; spec: unknown }> }>(await api("GET", `/projects/${project}/rules`, ADMIN), 200);
    expect(view.stored).toEqual([expect.objectContaining({ id: existing, kind: "immutable", spec: { tags: ["gate-.*"] } })]);
  });

  test.each([
    ["the project's admin", () => as.projectAdmin],
    ["a site admin", () => ADMIN],
  ])("%s may create, update and delete rules", async (_label, who) => {
    const view = await json<{ canEdit: boolean; configured: unknown }>(await api("GET", `/projects/${project}/rules`, who()), 200);
    expect(view.canEdit).toBe(true);
    const created = await json<{ id: number; updatedBy: string }>(await api("POST", `/projects/${project}/rules`, who(), { kind: "retention", keepLatest: 5, keepTags: ["latest"] }), 201);
    expect(created).toMatchObject({ kind: "retention", project, spec: { keepLatest: 5, keepTags: ["latest"] } });
    const updated = await json(await api("PUT", `/projects/${project}/rules/${created.id}`, who(), { kind: "retention", deleteOlderThanDays: 30 }), 200);
    expect(updated).toMatchObject({ id: created.id, spec: { deleteOlderThanDays: 30, keepTags: [] } });
    expect((await api("DELETE", `/projects/${project}/rules/${created.id}`, who())).status).toBe(204);
    expect((await api("DELETE", `/projects/${project}/rules/${created.id}`, who())).status).toBe(404);
  });
});

describe("input validation", () => {
  test.each<[string, unknown, RegExp]>([
    ["a bad regular expression", { kind: "immutable", tags: ["v(1"] }, /tags\.0: not a valid regular expression/],
    ["a lookahead (needs backtracking)", { kind: "immutable", tags: ["(?=v)v.*"] }, /tags\.0: not a valid regular expression in RE2 syntax/],
    ["a backreference", { kind: "retention", keepLatest: 1, keepTags: ["(a)\\1"] }, /keepTags\.0: not a valid regular expression/],
    ["a retention rule that deletes nothing", { kind: "retention", keepTags: ["latest"] }, /a retention rule needs keepLatest, deleteOlderThanDays or both/],
    ["a negative count", { kind: "retention", keepLatest: -1 }, /keepLatest/],
    ["a fractional count", { kind: "retention", keepLatest: 1.5 }, /keepLatest/],
    ["an unknown kind", { kind: "quota", limit: 3 }, /kind/],
    ["an unknown field", { kind: "immutable", tags: ["v.*"], project: "*" }, /Unrecognized key/],
    ["no patterns", { kind: "immutable", tags: [] }, /tags/],
    ["too long a pattern", { kind: "immutable", tags: ["a".repeat(201)] }, /tags\.0/],
    ["too many patterns", { kind: "immutable", tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, /tags/],
  ])("%s → 400 INVALID_REQUEST saying what is wrong", async (_label, body, message) => {
    const res = await api("POST", `/projects/${project}/rules`, ADMIN, body);
    const error = await json<{ errors: Array<{ code: string; detail: string }> }>(res, 400);
    expect(error.errors[0].code).toBe("INVALID_REQUEST");
    expect(error.errors[0].detail).toMatch(message);
  });

  test("a body that is not JSON, a missing project, a missing rule, a rule of another kind", async () => {
    const res = await fetch(`${registry.url}/api/v1/projects/${project}/rules`, { method: "POST", headers: { Authorization: ADMIN, "Content-Type": "application/json" }, body: "{nope" });
    expect(await outcome(res)).toEqual({ status: 400, codes: ["INVALID_REQUEST"] });
    expect(await outcome(await api("POST", "/projects/no-such-project/rules", ADMIN, { kind: "retention", keepLatest: 1 }))).toEqual({ status: 404, codes: ["NOT_FOUND"] });
    expect((await api("PUT", `/projects/${project}/rules/999999`, ADMIN, { kind: "retention", keepLatest: 1 })).status).toBe(404);
    const rule = await json<{ id: number }>(await api("POST", `/projects/${project}/rules`, ADMIN, { kind: "immutable", tags: ["kind-.*"] }), 201);
    expect((await api("PUT", `/projects/${project}/rules/${rule.id}`, ADMIN, { kind: "retention", keepLatest: 1 })).status).toBe(404);
    // Another project's rule is not reachable through this one.
    expect((await api("DELETE", `/projects/no-such-project/rules/${rule.id}`, ADMIN)).status).toBe(404);
    expect((await api("DELETE", `/projects/${project}/rules/${rule.id}`, ADMIN)).status).toBe(204);
  });
});

describe("stored rules act at once", () => {
  test("an immutability rule refuses a tag overwrite and delete on /v2; deleting the rule lifts it", async () => {
    const repo = `${project}/immutable-app`;
    const first = await pushImageAs(registry.url, repo, "v1.0", as.projectAdmin);
    const rule = await json<{ id: number }>(await api("POST", `/projects/${project}/rules`, as.projectAdmin, { kind: "immutable", tags: ["v\\d+\\.\\d+"] }), 201);

    const other = buildImage({ layers: 1, layerSize: 300 });
    await pushImageAs(registry.url, repo, "scratch", as.projectAdmin, other);
    const refused = await putManifestAs(registry.url, repo, "v1.0", other, as.projectAdmin);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/tag v1\.0 is immutable/);
    expect(await outcome(await v2(registry.url, `/v2/${repo}/manifests/v1.0`, ADMIN, { method: "DELETE" }))).toEqual({ status: 403, codes: ["DENIED"] });
    // The web UI's server-side copy is a push too: it may not move the tag either, and leaves it where it was.
    const copied = await api("POST", `/repositories/${repo}/-/copy`, as.projectAdmin, { reference: "scratch", tag: "v1.0" });
    expect(copied.status).toBe(403);
    expect(await copied.text()).toMatch(/tag v1\.0 is immutable/);
    const held = await v2(registry.url, `/v2/${repo}/manifests/v1.0`, ADMIN, { method: "HEAD", headers: { Accept: first.mediaType } });
    expect(held.headers.get("docker-content-digest")).toBe(first.digest);
    // Pushing the same manifest again is no move; other tags stay mutable.
    expect((await putManifestAs(registry.url, repo, "v1.0", first, as.projectAdmin)).status).toBe(201);
    expect((await putManifestAs(registry.url, repo, "latest", other, as.projectAdmin)).status).toBe(201);

    const tags = await json<{ items: Array<{ name: string; immutable: boolean }> }>(await api("GET", `/repositories/${repo}/-/tags?sort=name`, ADMIN), 200);
    expect(Object.fromEntries(tags.items.map((t) => [t.name, t.immutable]))).toEqual({ latest: false, scratch: false, "v1.0": true });
    const effective = await json<{ stored: Array<{ id: number }> }>(await api("GET", `/repositories/${repo}/-/rules`, as.guest), 200);
    expect(effective.stored.map((r) => r.id)).toContain(rule.id);

    expect((await api("DELETE", `/projects/${project}/rules/${rule.id}`, as.projectAdmin)).status).toBe(204);
    expect((await putManifestAs(registry.url, repo, "v1.0", other, as.projectAdmin)).status).toBe(201);
  });

  test("an immutable index keeps its children and every layer under it: deletes by digest and of blobs are refused", async () => {
    const repo = `${project}/imm2`;
    const rule = await json<{ id: number }>(await api("POST", `/projects/${project}/rules`, as.projectAdmin, { kind: "immutable", tags: ["prod.*"] }), 201);
    const [one, two] = [buildImage({ layers: 1, layerSize: 300 }), buildImage({ layers: 1, layerSize: 400 })];
    const index = buildIndex([one, two]);
    try {
      await pushImageAs(registry.url, repo, one.digest, as.projectAdmin, one);
      await pushImageAs(registry.url, repo, two.digest, as.projectAdmin, two);
      expect((await putManifestAs(registry.url, repo, "prod-1", index as BuiltImage, as.projectAdmin)).status).toBe(201);

      // The web API and /v2 alike: a child of a (any) index goes after the index, named in the error.
      const web = await api("DELETE", `/repositories/${repo}/-/manifests/${one.digest}`, as.projectAdmin);
      expect(web.status).toBe(409);
      expect(await web.text()).toMatch(new RegExp(`DENIED.*listed by index ${index.digest}`));
      const viaV2 = await v2(registry.url, `/v2/${repo}/manifests/${two.digest}`, as.projectAdmin, { method: "DELETE" });
      expect(await outcome(viaV2)).toEqual({ status: 409, codes: ["DENIED"] });
      // Every layer and config under the immutable tag, through the index: 403 naming the rule.
      for (const blob of [one.layers[0], two.config]) {
        const res = await v2(registry.url, `/v2/${repo}/blobs/${blob.descriptor.digest}`, as.projectAdmin, { method: "DELETE" });
        expect(res.status).toBe(403);
        expect(await res.text()).toMatch(/DENIED.*immutable tag prod-1 \(/);
      }
      for (const ref of ["prod-1", one.digest, two.digest]) expect((await v2(registry.url, `/v2/${repo}/manifests/${ref}`, ADMIN, { method: "HEAD", headers: { Accept: index.mediaType + "," + one.mediaType } })).status).toBe(200);
      expect((await v2(registry.url, `/v2/${repo}/blobs/${one.layers[0].descriptor.digest}`, ADMIN, { method: "HEAD" })).status).toBe(200);

      // A blob of a mutable image is still unlinked as before.
      const loose = await pushImageAs(registry.url, repo, "scratch", as.projectAdmin, buildImage({ layers: 1, layerSize: 200 }));
      expect((await v2(registry.url, `/v2/${repo}/blobs/${loose.layers[0].descriptor.digest}`, as.projectAdmin, { method: "DELETE" })).status).toBe(202);
    } finally {
      expect((await api("DELETE", `/projects/${project}/rules/${rule.id}`, as.projectAdmin)).status).toBe(204);
    }
    // Without the rule the index still holds its children (any index does); once it is gone they may go.
    expect(await outcome(await v2(registry.url, `/v2/${repo}/manifests/${two.digest}`, as.projectAdmin, { method: "DELETE" }))).toEqual({ status: 409, codes: ["DENIED"] });
    expect((await v2(registry.url, `/v2/${repo}/manifests/${index.digest}`, as.projectAdmin, { method: "DELETE" })).status).toBe(202);
    expect((await v2(registry.url, `/v2/${repo}/manifests/${two.digest}`, as.projectAdmin, { method: "DELETE" })).status).toBe(202);
  });

  test("a retention rule: the preview lists what a GC run then deletes", async () => {
    const retained = uniqueName("retained");
    await registry.deps.auth.accounts.addProject(retained);
    const repo = `${retained}/app`;
    for (const [i, tag] of ["t1", "t2", "t3", "t4", "release"].entries()) {
      await pushImageAs(registry.url, repo, tag, ADMIN);
      // Oldest first: t1 was pushed five days ago, release yesterday.
      await registry.deps.database.query(
        `UPDATE tag t SET updated_at = now() - make_interval(days => $3) FROM repository r WHERE r.id = t.repository_id AND r.name = $1 AND t.name = $2`,
        [repo, tag, 5 - i],
      );
    }
    await json(await api("POST", `/projects/${retained}/rules`, ADMIN, { kind: "retention", keepLatest: 3, keepTags: ["release"] }), 201);
    const preview = await json<{ deletions: Array<{ repository: string; tag: string }> }>(await api("GET", `/projects/${retained}/rules/preview`, ADMIN), 200);
    expect(preview.deletions.map((d) => `${d.repository}:${d.tag}`).sort()).toEqual([`${repo}:t1`, `${repo}:t2`]);
    // The other project's repositories are not in this project's preview.
    expect((await json<{ deletions: unknown[] }>(await api("GET", `/projects/${project}/rules/preview`, ADMIN), 200)).deletions).toEqual([]);

    const report = await registry.deps.gc.collect({ trigger: "api" });
    expect(report.totals.tags).toBe(2);
    const left = await json<{ tags: string[] }>(await v2(registry.url, `/v2/${repo}/tags/list`, ADMIN), 200);
    expect(left.tags.sort()).toEqual(["release", "t3", "t4"]);
  });

  test("rule changes are in the audit log", async () => {
    const rule = await json<{ id: number }>(await api("POST", `/projects/${project}/rules`, as.projectAdmin, { kind: "immutable", tags: ["audited"] }), 201);
    await api("DELETE", `/projects/${project}/rules/${rule.id}`, as.projectAdmin);
    const events = await json<Array<{ actor: string; reference: string; detail: { change: string; project: string } }>>(await api("GET", "/audit?action=admin", ADMIN), 200);
    const mine = events.filter((e) => e.reference === `rule ${rule.id}`).map((e) => [e.detail.change, e.detail.project]);
    expect(mine).toEqual([
      ["immutable rule deleted", project],
      ["immutable rule created", project],
    ]);
  });

  test("another replica on the same database picks a change up within its reload interval", async () => {
    const replica = new GcService({ stores: registry.deps.stores, storage: createStorageDriver(registry.deps.config), config: registry.deps.config });
    try {
      await replica.rules.watch(200);
      const repo = `${project}/replicated` as never;
      expect(replica.rules.ruleFor(repo, "frozen")).toBeNull();
      const rule = await json<{ id: number }>(await api("POST", `/projects/${project}/rules`, as.projectAdmin, { kind: "immutable", tags: ["frozen"] }), 201);
      expect(await waitFor("the replica to reload its rules", () => replica.rules.ruleFor(repo, "frozen"))).toMatch(/frozen/);
      await api("DELETE", `/projects/${project}/rules/${rule.id}`, as.projectAdmin);
    } finally {
      await replica.close();
    }
  });
});

describe("project admins find their projects", () => {
  test("/me/projects lists the caller's projects with the role held; a site admin holds admin everywhere", async () => {
    const mine = await json<Array<{ name: string; role: string }>>(await api("GET", "/me/projects", as.guest), 200);
    expect(mine).toEqual([expect.objectContaining({ name: project, role: "guest" })]);
    const all = await json<Array<{ name: string; role: string }>>(await api("GET", "/me/projects", ADMIN), 200);
    expect(all.find((p) => p.name === project)?.role).toBe("admin");
    expect((await api("GET", "/me/projects")).status).toBe(401);
  });

  test("a project admin manages members of their project only", async () => {
    const newcomer = await addUser(registry, "newcomer");
    expect((await api("PUT", `/projects/${project}/members/${newcomer.username}`, as.projectAdmin, { role: "guest" })).status).toBe(204);
    expect((await api("GET", `/projects/${project}/members`, as.projectAdmin)).status).toBe(200);
    expect((await api("PUT", `/projects/${project}/members/${newcomer.username}`, as.otherProjectAdmin, { role: "admin" })).status).toBe(403);
    expect((await api("PUT", `/projects/${project}/members/${newcomer.username}`, as.developer, { role: "admin" })).status).toBe(403);
  });
});

describe("hostile patterns", () => {
  // The report's attack: `(a+)+b` against a long run of a's ending in c costs a backtracking engine
  // exponential time, and the push path matches every immutability rule. With a backtracking engine this
  // test never finishes (jest's timeout fails it); /healthz must answer while the pushes run.
  const attackTag = "a".repeat(127) + "c";

  test("(a+)+b stored as an immutability and a keepTags pattern: pushes and moves of a 128-character tag stay cheap", async () => {
    const hostile = uniqueName("hostile");
    await registry.deps.auth.accounts.addProject(hostile);
    const immutable = await json<{ id: number }>(await api("POST", `/projects/${hostile}/rules`, ADMIN, { kind: "immutable", tags: ["(a+)+b", "((a|aa)*)+b"] }), 201);
    const retention = await json<{ id: number }>(await api("POST", `/projects/${hostile}/rules`, ADMIN, { kind: "retention", keepLatest: 0, keepTags: ["(a+)+b"] }), 201);
    const repo = `${hostile}/app`;

    const health: Promise<number>[] = [];
    const pushes = (async () => {
      const images = [buildImage({ layers: 1, layerSize: 200 }), buildImage({ layers: 1, layerSize: 201 }), buildImage({ layers: 1, layerSize: 202 })];
      for (const image of images) {
        health.push(fetch(`${registry.url}/healthz`).then((r) => r.status));
        await pushImageAs(registry.url, repo, attackTag, ADMIN, image); // the first push creates the tag, the others move it
      }
    })();
    await pushes;
    expect(await Promise.all(health)).toEqual([200, 200, 200]);

    // Retention matches the same pattern against the tag: not kept by keepTags, so the preview deletes it.
    const preview = await json<{ deletions: Array<{ tag: string }> }>(await api("GET", `/projects/${hostile}/rules/preview`, ADMIN), 200);
    expect(preview.deletions.map((d) => d.tag)).toEqual([attackTag]);
    // A tag the pattern does match is immutable and kept.
    const matching = "a".repeat(127) + "b";
    await pushImageAs(registry.url, repo, matching, ADMIN);
    const other = await pushImageAs(registry.url, repo, "scratch", ADMIN, buildImage({ layers: 1, layerSize: 203 }));
    const moved = await putManifestAs(registry.url, repo, matching, other, ADMIN);
    expect(moved.status).toBe(403);
    const after = await json<{ deletions: Array<{ tag: string }> }>(await api("GET", `/projects/${hostile}/rules/preview`, ADMIN), 200);
    expect(after.deletions.map((d) => d.tag).sort()).toEqual([attackTag, "scratch"]);

    for (const id of [immutable.id, retention.id]) expect((await api("DELETE", `/projects/${hostile}/rules/${id}`, ADMIN)).status).toBe(204);
  });

  test("a stored pattern the linear engine refuses stops start-up and collections, naming the rule", async () => {
    // A row as an older Berth (which accepted any JavaScript regex) may have stored it.
    const row = await registry.deps.stores.projectRules.create(project, { kind: "immutable", spec: { tags: ["(?!rc)v.*"] } }, "old-berth");
    expect(row).not.toBeNull();
    const replica = new GcService({ stores: registry.deps.stores, storage: createStorageDriver(registry.deps.config), config: registry.deps.config });
    try {
      const startup = replica.rules.watch(60_000);
      await expect(startup).rejects.toThrow(RefusedRulesError);
      await expect(replica.rules.refresh()).rejects.toThrow(new RegExp(`immutable rule ${row!.id} of project ${project}: tags\\.0: not a valid regular expression in RE2 syntax`));
      // A collection fails rather than apply retention without the rule (it might have kept tags).
      const report = await replica.collect({ trigger: "api", dryRun: true });
      expect(report).toMatchObject({ status: "failed", errors: [expect.stringContaining(`immutable rule ${row!.id} of project ${project}`)] });
    } finally {
      replica.rules.close();
      await registry.deps.stores.projectRules.delete(project, row!.id);
    }
    await expect(replica.rules.refresh()).resolves.toBeDefined();
  });
});
