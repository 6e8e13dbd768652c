// The admin JSON API under /api/v1 (issue 4): who may call what, users, robots, projects and members,
// and the audit log of pushes, pulls, deletes and logins.
import type { TestRegistry } from "../support/registry";
import {
  ADMIN_PASSWORD,
  addUser,
  basic,
  bearer,
  errorCodes,
  getManifestAs,
  getToken,
  pushImageAs,
  startAuthRegistry,
  tokenFor,
  uniqueName,
  v2,
  type Creds,
} from "../support/auth-helpers";

const adminCreds: Creds = { username: "admin", password: ADMIN_PASSWORD };
const ADMIN = basic(adminCreds.username, adminCreds.password);

let registry: TestRegistry;
const url = () => registry.url;
let plain: Creds;
let plainAuth: string;

function api(method: string, path: string, authorization?: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (authorization) headers.Authorization = authorization;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${url()}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function json<T = unknown>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect({ status: res.status, body: text.slice(0, 300) }).toEqual({ status, body: expect.any(String) });
  return (text ? JSON.parse(text) : undefined) as T;
}

beforeAll(async () => {
  registry = await startAuthRegistry();
  plain = await addUser(registry, "plain");
  plainAuth = basic(plain.username, plain.password);
}, 60_000);

afterAll(async () => {
  await registry?.stop();
}, 30_000);

describe("access to the admin API", () => {
  const adminOnly: Array<[string, string, unknown?]> = [
    ["GET", "/users"],
    ["POST", "/users", { username: "x-never", password: "long-enough-pw" }],
    ["PATCH", "/users/admin", { disabled: true }],
    ["DELETE", "/users/admin"],
    ["GET", "/robots"],
    ["POST", "/robots", { name: "never", permissions: [{ project: "p", actions: ["pull"] }] }],
    ["DELETE", "/robots/robot$never"],
    ["GET", "/projects"],
    ["POST", "/projects", { name: "never-created" }],
    ["DELETE", "/projects/never-created"],
    ["GET", "/audit"],
  ];
  const projectAdminOnly: Array<[string, string, unknown?]> = [
    ["PATCH", "/projects/PROJECT", { public: true }],
    ["GET", "/projects/PROJECT/members"],
    ["PUT", "/projects/PROJECT/members/admin", { role: "guest" }],
    ["DELETE", "/projects/PROJECT/members/admin"],
  ];
  let project: string;
  beforeAll(async () => {
    project = uniqueName("gated");
    await registry.deps.auth.accounts.addProject(project);
    // The plain user is a developer there: not enough to manage it.
    await registry.deps.auth.accounts.setMember(project, plain.username, "developer");
  });

  // Rows padded to three entries: a row shorter than the test function's parameter list would make jest pass a
  // `done` callback as the last argument.
  const rows = [...adminOnly, ...projectAdminOnly].map(([method, path, body]) => [method, path, body] as [string, string, unknown]);

  it.each(rows)("%s %s: anonymous → 401", async (method, path, body) => {
    const res = await api(method, path.replace("PROJECT", project), undefined, body);
    expect(res.status).toBe(401);
    expect(await errorCodes(res)).toEqual(["UNAUTHORIZED"]);
  });

  it.each(rows)("%s %s: a non-admin user → 403 DENIED", async (method, path, body) => {
    const res = await api(method, path.replace("PROJECT", project), plainAuth, body);
    expect(res.status).toBe(403);
    expect(await errorCodes(res)).toEqual(["DENIED"]);
  });

  it("nothing was changed by the refused calls", async () => {
    const users = await registry.deps.auth.accounts.listUsers();
    expect(users.find((u) => u.username === "admin")).toMatchObject({ isAdmin: true, disabled: false });
    expect(users.map((u) => u.username)).not.toContain("x-never");
    expect((await registry.deps.auth.accounts.listProjects()).map((p) => p.name)).not.toContain("never-created");
    expect((await registry.deps.auth.accounts.listProjects()).find((p) => p.name === project)?.public).toBe(false);
    expect(await registry.deps.auth.accounts.members(project)).toEqual([{ username: plain.username, role: "developer" }]);
  });

  it("wrong credentials → 401; a robot is no admin → 403", async () => {
    expect((await api("GET", "/users", basic("admin", "wrong-password"))).status).toBe(401);
    expect((await api("GET", "/users", bearer("garbage.token.here"))).status).toBe(401);
    const { robot, secret } = await registry.deps.auth.accounts.addRobot({ name: uniqueName("nosy"), permissions: [{ project: "*", actions: ["pull", "push", "delete"] }] });
    expect((await api("GET", "/users", basic(robot.name, secret))).status).toBe(403);
  });

  it("an admin may use Basic credentials or an API token from /token; /me says who is calling", async () => {
    expect((await api("GET", "/users", ADMIN)).status).toBe(200);
    // A registry token is for /v2 only.
    expect((await api("GET", "/users", bearer(await tokenFor(url(), adminCreds)))).status).toBe(401);
    const token = await tokenFor(url(), adminCreds, "api:admin:*");
    expect((await api("GET", "/users", bearer(token))).status).toBe(200);
    expect(await json(await api("GET", "/me", bearer(token)), 200)).toEqual({ name: "admin", kind: "user", isAdmin: true });
    expect(await json(await api("GET", "/me", plainAuth), 200)).toEqual({ name: plain.username, kind: "user", isAdmin: false });
    expect((await api("GET", "/me")).status).toBe(401);
    // An anonymous token is nobody.
    expect((await api("GET", "/me", bearer(await tokenFor(url(), null, "api:admin:*")))).status).toBe(401);
  });

  it("docker search identifies its caller by the registry token its login got (read-only, filtered by the account's rights)", async () => {
    const registryToken = await tokenFor(url(), adminCreds);
    const res = await fetch(`${url()}/v1/search?q=`, { headers: { Authorization: bearer(registryToken) } });
    expect(res.status).toBe(200);
    // The same token still opens nothing else of the API.
    expect((await api("GET", "/users", bearer(registryToken))).status).toBe(401);
    expect((await fetch(`${url()}/v1/search?q=`, { headers: { Authorization: bearer("garbage.token.here") } })).status).toBe(401);
  });
});

describe("users", () => {
  it("create, list (no hashes), log in, promote, disable, delete", async () => {
    const username = uniqueName("crud");
    const password = "crud-user-password";
    const created = await json<Record<string, unknown>>(await api("POST", "/users", ADMIN, { username, password }), 201);
    expect(created).toMatchObject({ username, isAdmin: false, disabled: false });
    expect(JSON.stringify(created)).not.toMatch(/password|scrypt/i);
    expect((await api("POST", "/users", ADMIN, { username, password })).status).toBe(409);
    expect((await api("POST", "/users", ADMIN, { username: "Bad Name", password })).status).toBe(400);
    expect((await api("POST", "/users", ADMIN, { username: uniqueName("short"), password: "short" })).status).toBe(400);
    expect((await api("POST", "/users", ADMIN, { username: uniqueName("extra"), password, role: "god" })).status).toBe(400);

    const list = await json<Array<Record<string, unknown>>>(await api("GET", "/users", ADMIN), 200);
    expect(list.map((u) => u.username)).toEqual(expect.arrayContaining(["admin", username]));
    expect(JSON.stringify(list)).not.toMatch(/passwordHash|scrypt/);

    // Promoted before its first login: an admin from the start.
    expect(await json(await api("PATCH", `/users/${username}`, ADMIN, { isAdmin: true }), 200)).toMatchObject({ username, isAdmin: true });
    const creds = basic(username, password);
    expect((await v2(url(), "/v2/", creds)).status).toBe(200);
    expect((await api("GET", "/users", creds)).status).toBe(200);
    expect(await json(await api("PATCH", `/users/${username}`, ADMIN, { isAdmin: false, password: "changed-password-2" }), 200)).toMatchObject({ isAdmin: false });
    expect((await api("PATCH", "/users/nobody-here", ADMIN, { disabled: true })).status).toBe(404);

    // Disable, then delete, an account that has not logged in with the current password yet.
    expect(await json(await api("PATCH", `/users/${username}`, ADMIN, { disabled: true }), 200)).toMatchObject({ disabled: true });
    expect((await getToken(url(), { creds: { username, password: "changed-password-2" } })).status).toBe(401);
    expect((await api("PATCH", `/users/${username}`, ADMIN, { disabled: false })).status).toBe(200);
    expect((await getToken(url(), { creds: { username, password: "changed-password-2" } })).status).toBe(200);
    expect((await api("DELETE", `/users/${username}`, ADMIN)).status).toBe(204);
    expect((await api("DELETE", `/users/${username}`, ADMIN)).status).toBe(404);
    const other = uniqueName("gone");
    await json(await api("POST", "/users", ADMIN, { username: other, password }), 201);
    expect((await api("DELETE", `/users/${other}`, ADMIN)).status).toBe(204);
    expect((await getToken(url(), { creds: { username: other, password } })).status).toBe(401);
  });

  it("a demoted admin loses admin rights at once, even right after an admin call", async () => {
    const user = await addUser(registry, "demoted", true);
    const auth = basic(user.username, user.password);
    expect((await api("GET", "/users", auth)).status).toBe(200);
    expect(await json(await api("PATCH", `/users/${user.username}`, ADMIN, { isAdmin: false }), 200)).toMatchObject({ isAdmin: false });
    expect((await api("GET", "/users", auth)).status).toBe(403);
  });

  it("a deleted user is locked out at once, even right after a successful call", async () => {
    const user = await addUser(registry, "deleted");
    const auth = basic(user.username, user.password);
    expect((await api("GET", "/me", auth)).status).toBe(200);
    expect((await api("DELETE", `/users/${user.username}`, ADMIN)).status).toBe(204);
    expect((await api("GET", "/me", auth)).status).toBe(401);
    expect((await v2(url(), "/v2/", auth)).status).toBe(401);
  });

  it("refuses a body that is not JSON", async () => {
    const res = await fetch(`${url()}/api/v1/users`, { method: "POST", headers: { Authorization: ADMIN, "Content-Type": "application/json" }, body: "{nope" });
    expect(res.status).toBe(400);
  });
});

describe("robots", () => {
  it("returns the secret once; lists never show it; the robot pushes in its project; deletion revokes it", async () => {
    const project = uniqueName("botland");
    await registry.deps.auth.accounts.addProject(project);
    const name = uniqueName("ci");
    const created = await json<{ robot: Record<string, unknown>; secret: string }>(
      await api("POST", "/robots", ADMIN, { name, description: "CI", permissions: [{ project, actions: ["pull", "push"] }] }),
      201,
    );
    expect(created.robot).toMatchObject({ name: `robot$${name}`, permissions: [{ project, actions: ["pull", "push"] }], description: "CI" });
    expect(created.secret.length).toBeGreaterThanOrEqual(32);
    expect(JSON.stringify(created.robot)).not.toContain(created.secret);

    const list = await api("GET", "/robots", ADMIN);
    const text = await list.text();
    expect(list.status).toBe(200);
    expect(text).toContain(`robot$${name}`);
    expect(text).not.toContain(created.secret);
    expect(text).not.toMatch(/secret/i);

    const bot = basic(`robot$${name}`, created.secret);
    await pushImageAs(url(), `${project}/built`, "v1", bearer(await tokenFor(url(), { username: `robot$${name}`, password: created.secret }, `repository:${project}/built:pull,push`)));
    expect((await getManifestAs(url(), `${project}/built`, "v1", bot)).status).toBe(200);

    expect((await api("POST", "/robots", ADMIN, { name, permissions: [{ project, actions: ["pull"] }] })).status).toBe(409);
    expect((await api("POST", "/robots", ADMIN, { name: uniqueName("bad"), permissions: [{ project, actions: ["admin"] }] })).status).toBe(400);
    expect((await api("POST", "/robots", ADMIN, { name: uniqueName("bad"), permissions: [] })).status).toBe(400);
    expect((await api("POST", "/robots", ADMIN, { name: uniqueName("bad"), permissions: [{ project, actions: ["pull"] }], expiresAt: "tomorrow" })).status).toBe(400);

    expect((await api("DELETE", `/robots/${encodeURIComponent(`robot$${name}`)}`, ADMIN)).status).toBe(204);
    expect((await api("DELETE", `/robots/${encodeURIComponent(`robot$${name}`)}`, ADMIN)).status).toBe(404);
    expect(JSON.stringify(await json(await api("GET", "/robots", ADMIN), 200))).not.toContain(`robot$${name}`);
    // Deleting a robot (say, its secret leaked from CI) locks it out at once, though it was just used.
    expect((await getToken(url(), { creds: { username: `robot$${name}`, password: created.secret } })).status).toBe(401);
    expect((await getManifestAs(url(), `${project}/built`, "v1", bot)).status).toBe(401);
  });

  it("an expiring robot works until its expiry", async () => {
    const project = uniqueName("expiring");
    await registry.deps.auth.accounts.addProject(project);
    const future = await json<{ robot: { name: string; expiresAt: string }; secret: string }>(
      await api("POST", "/robots", ADMIN, { name: uniqueName("later"), permissions: [{ project, actions: ["pull"] }], expiresAt: new Date(Date.now() + 3_600_000).toISOString() }),
      201,
    );
    expect(Date.parse(future.robot.expiresAt)).toBeGreaterThan(Date.now());
    expect((await getToken(url(), { creds: { username: future.robot.name, password: future.secret } })).status).toBe(200);
    // One born expired is refused, naming the field.
    const past = await api("POST", "/robots", ADMIN, { name: uniqueName("past"), permissions: [{ project, actions: ["pull"] }], expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(past.status).toBe(400);
    expect(await past.text()).toMatch(/expiresAt: must be in the future/);
  });
});

describe("projects and members", () => {
  let owner: Creds;
  let outsider: Creds;
  let dev: Creds;
  let mine: string;
  let theirs: string;

  beforeAll(async () => {
    owner = await addUser(registry, "owner");
    outsider = await addUser(registry, "outsider");
    dev = await addUser(registry, "dev");
    mine = uniqueName("mine");
    theirs = uniqueName("theirs");
    await json(await api("POST", "/projects", ADMIN, { name: mine, owner: owner.username }), 201);
    await json(await api("POST", "/projects", ADMIN, { name: theirs, public: true }), 201);
  });

  it("admins create, list and delete projects; bad names and duplicates are refused", async () => {
    const list = await json<Array<{ name: string; public: boolean }>>(await api("GET", "/projects", ADMIN), 200);
    expect(list).toEqual(expect.arrayContaining([expect.objectContaining({ name: mine, public: false }), expect.objectContaining({ name: theirs, public: true })]));
    expect((await api("POST", "/projects", ADMIN, { name: mine })).status).toBe(409);
    expect((await api("POST", "/projects", ADMIN, { name: "a/b" })).status).toBe(400);
    expect((await api("POST", "/projects", ADMIN, { name: "UPPER" })).status).toBe(400);
    expect((await api("POST", "/projects", ADMIN, { name: uniqueName("x"), owner: "ghost-user" })).status).toBe(404);
    const doomed = uniqueName("doomed");
    await json(await api("POST", "/projects", ADMIN, { name: doomed }), 201);
    expect((await api("DELETE", `/projects/${doomed}`, ADMIN)).status).toBe(204);
    expect((await api("DELETE", `/projects/${doomed}`, ADMIN)).status).toBe(404);
  });

  it("the owner is the project's admin and manages its members; the members' rights follow", async () => {
    const ownerAuth = basic(owner.username, owner.password);
    expect(await json(await api("GET", `/projects/${mine}/members`, ownerAuth), 200)).toEqual([{ username: owner.username, role: "admin" }]);
    expect((await api("PUT", `/projects/${mine}/members/${dev.username}`, ownerAuth, { role: "developer" })).status).toBe(204);
    expect((await api("PUT", `/projects/${mine}/members/${dev.username}`, ownerAuth, { role: "overlord" })).status).toBe(400);
    expect((await api("PUT", `/projects/${mine}/members/ghost-user`, ownerAuth, { role: "guest" })).status).toBe(404);
    const members = await json<Array<{ username: string; role: string }>>(await api("GET", `/projects/${mine}/members`, ownerAuth), 200);
    expect(members).toEqual(expect.arrayContaining([{ username: owner.username, role: "admin" }, { username: dev.username, role: "developer" }]));

    const devToken = await tokenFor(url(), dev, `repository:${mine}/app:pull,push`);
    await pushImageAs(url(), `${mine}/app`, "v1", bearer(devToken));

    // The owner makes the project public: anonymous pulls work.
    expect(await json(await api("PATCH", `/projects/${mine}`, ownerAuth, { public: true }), 200)).toMatchObject({ name: mine, public: true });
    expect((await getManifestAs(url(), `${mine}/app`, "v1", bearer(await tokenFor(url(), null, `repository:${mine}/app:pull`)))).status).toBe(200);
    expect(await json(await api("PATCH", `/projects/${mine}`, ownerAuth, { public: false }), 200)).toMatchObject({ public: false });
    expect((await getManifestAs(url(), `${mine}/app`, "v1", bearer(await tokenFor(url(), null, `repository:${mine}/app:pull`)))).status).toBe(401);

    // A developer cannot manage members; removing the developer takes their rights away.
    expect((await api("PUT", `/projects/${mine}/members/${outsider.username}`, basic(dev.username, dev.password), { role: "admin" })).status).toBe(403);
    expect((await api("DELETE", `/projects/${mine}/members/${dev.username}`, ownerAuth)).status).toBe(204);
    expect((await api("DELETE", `/projects/${mine}/members/${dev.username}`, ownerAuth)).status).toBe(404);
    expect(await tokenFor(url(), dev, `repository:${mine}/app:pull,push`).then((t) => JSON.parse(Buffer.from(t.split(".")[1], "base64url").toString()).access)).toEqual([]);
  });

  it("a project admin manages only their own project", async () => {
    const ownerAuth = basic(owner.username, owner.password);
    expect((await api("GET", `/projects/${theirs}/members`, ownerAuth)).status).toBe(403);
    expect((await api("PUT", `/projects/${theirs}/members/${owner.username}`, ownerAuth, { role: "admin" })).status).toBe(403);
    expect((await api("PATCH", `/projects/${theirs}`, ownerAuth, { public: false })).status).toBe(403);
    expect((await api("DELETE", `/projects/${mine}`, ownerAuth)).status).toBe(403);
    expect((await api("POST", "/projects", ownerAuth, { name: uniqueName("self") })).status).toBe(403);
    expect((await api("GET", "/projects", ownerAuth)).status).toBe(403);
    expect(await registry.deps.auth.accounts.members(theirs)).toEqual([]);
    // The site admin manages every project.
    expect((await api("PUT", `/projects/${theirs}/members/${outsider.username}`, ADMIN, { role: "guest" })).status).toBe(204);
    expect(await json(await api("GET", `/projects/${theirs}/members`, ADMIN), 200)).toEqual([{ username: outsider.username, role: "guest" }]);
  });
});

describe("audit log", () => {
  it("records push, pull, delete and login with actor and repository; filters work", async () => {
    const actor = await addUser(registry, "audited");
    const project = uniqueName("audit");
    await registry.deps.auth.accounts.addProject(project, { owner: actor.username });
    const repo = `${project}/app`;
    const auth = basic(actor.username, actor.password);
    const image = await pushImageAs(url(), repo, "v1", auth);
    expect((await getManifestAs(url(), repo, "v1", auth)).status).toBe(200);
    expect((await v2(url(), `/v2/${repo}/manifests/${image.digest}`, auth, { method: "DELETE" })).status).toBe(202);
    await getToken(url(), { creds: { username: actor.username, password: "wrong-password!" } });

    type Event = { id: string; at: string; actor: string; action: string; repository: string | null; reference: string | null; success: boolean };
    const events = await json<Event[]>(await api("GET", `/audit?actor=${actor.username}`, ADMIN), 200);
    expect(events.every((e) => e.actor === actor.username)).toBe(true);
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "push", repository: repo, reference: "v1" }),
        expect.objectContaining({ action: "pull", repository: repo, reference: "v1" }),
        expect.objectContaining({ action: "delete", repository: repo, reference: image.digest }),
        expect.objectContaining({ action: "login", success: true }),
        expect.objectContaining({ action: "login", success: false }),
      ]),
    );
    // Newest first.
    const ids = events.map((e) => BigInt(e.id));
    expect([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))).toEqual(ids);

    const pushes = await json<Event[]>(await api("GET", `/audit?action=push&repository=${encodeURIComponent(repo)}`, ADMIN), 200);
    expect(pushes.length).toBeGreaterThanOrEqual(1);
    expect(pushes.every((e) => e.action === "push" && e.repository === repo && e.actor === actor.username)).toBe(true);

    const one = await json<Event[]>(await api("GET", `/audit?actor=${actor.username}&limit=1`, ADMIN), 200);
    expect(one).toHaveLength(1);
    const older = await json<Event[]>(await api("GET", `/audit?actor=${actor.username}&before=${one[0].id}`, ADMIN), 200);
    expect(older.map((e) => e.id)).toEqual(events.slice(1).map((e) => e.id));
    expect(await json<Event[]>(await api("GET", `/audit?actor=${actor.username}&since=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`, ADMIN), 200)).toEqual([]);
    expect((await api("GET", "/audit?limit=0", ADMIN)).status).toBe(400);
    expect((await api("GET", "/audit?since=yesterday", ADMIN)).status).toBe(400);
    expect((await api("GET", "/audit?before=abc", ADMIN)).status).toBe(400);
  });

  it("records anonymous pulls as 'anonymous'", async () => {
    const project = uniqueName("openaudit");
    await registry.deps.auth.accounts.addProject(project, { public: true });
    await pushImageAs(url(), `${project}/app`, "v1", ADMIN);
    expect((await getManifestAs(url(), `${project}/app`, "v1", bearer(await tokenFor(url(), null, `repository:${project}/app:pull`)))).status).toBe(200);
    const events = await json<Array<{ actor: string; action: string }>>(await api("GET", `/audit?action=pull&repository=${project}/app`, ADMIN), 200);
    expect(events.map((e) => e.actor)).toEqual(["anonymous"]);
    const pushes = await json<Array<{ actor: string }>>(await api("GET", `/audit?action=push&repository=${project}/app`, ADMIN), 200);
    expect(pushes.map((e) => e.actor)).toEqual(["admin"]);
  });
});

describe("the last enabled admin", () => {
  let own: TestRegistry;
  const call = (method: string, path: string, authorization: string, body?: unknown) =>
    fetch(`${own.url}/api/v1${path}`, { method, headers: { Authorization: authorization, ...(body === undefined ? {} : { "Content-Type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  beforeAll(async () => {
    own = await startAuthRegistry();
  }, 60_000);
  afterAll(() => own?.stop(), 30_000);

  it("cannot demote, disable or delete itself (409 saying why) until another admin exists; then it can step down", async () => {
    for (const [method, body] of [["PATCH", { isAdmin: false }], ["PATCH", { disabled: true }], ["DELETE", undefined]] as const) {
      const res = await call(method, "/users/admin", ADMIN, body);
      expect([method, body, res.status]).toEqual([method, body, 409]);
      expect(((await res.json()) as { errors: Array<{ detail: string }> }).errors[0].detail).toMatch(/admin is the last enabled admin/);
    }
    expect((await call("GET", "/users", ADMIN)).status).toBe(200);
    // A disabled admin does not count: it cannot administer anything.
    const password = "second-admin-pw-1";
    const second = uniqueName("second");
    expect((await call("POST", "/users", ADMIN, { username: second, password, isAdmin: true })).status).toBe(201);
    expect((await call("PATCH", `/users/${second}`, ADMIN, { disabled: true })).status).toBe(200);
    expect((await call("PATCH", "/users/admin", ADMIN, { isAdmin: false })).status).toBe(409);
    expect((await call("PATCH", `/users/${second}`, ADMIN, { disabled: false })).status).toBe(200);
    // Two admins demoting each other at once: exactly one succeeds (the other is 409, or 403 when its
    // caller was already demoted as it was authorized).
    const results = await Promise.all([call("PATCH", `/users/${second}`, ADMIN, { isAdmin: false }), call("PATCH", "/users/admin", basic(second, password), { isAdmin: false })]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409 || r.status === 403)).toHaveLength(1);
    const admins = ((await (await call("GET", "/users", results[0].status === 200 ? ADMIN : basic(second, password))).json()) as Array<{ isAdmin: boolean; disabled: boolean }>).filter((u) => u.isAdmin && !u.disabled);
    expect(admins).toHaveLength(1);
  });
});
