// Robot accounts with a lifecycle (issue 15, item 4), through the JSON API on two Berth replicas sharing one
// PostgreSQL database: each action (create, edit description/permissions/expiry, disable/enable, refresh the
// secret, delete) with its one event; project robots that a project's admins manage for their own project
// only; a refreshed secret ending the old one at once on the other replica; every refused robot login one
// audit event with the actor, the client address and the reason.
import pg from "pg";
import { waitFor } from "../support/wait-for";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import type { TestRegistry } from "../support/registry";
import { ADMIN_PASSWORD, basic, bearer, getManifestAs, pushImageAs, startAuthRegistry, tokenFor, uniqueName, type Creds } from "../support/auth-helpers";

jest.setTimeout(120_000);

const ADMIN = basic("admin", ADMIN_PASSWORD);
/** The client address the tests claim through a trusted proxy (X-Forwarded-For), to find in the audit log. */
const CLIENT = "198.51.100.23";
/** Generous: an access token's revocation normally reaches the other replica in milliseconds. */
const PROPAGATION_LIMIT_MS = 15_000;

let database: TestDatabase;
let a: TestRegistry;
let b: TestRegistry;
let sql: pg.Client;
let project: string;
let other: string;
let projectAdmin: Creds;
let developer: Creds;

interface RobotBody {
  name: string;
  project: string | null;
  description: string;
  permissions: Array<{ project: string; actions: string[] }>;
  expiresAt: string | null;
  disabled: boolean;
}

beforeAll(async () => {
  database = await createTestDatabase();
  const config = { databaseUrl: database.url, trustedProxies: ["loopback"] };
  a = await startAuthRegistry({ config });
  b = await startAuthRegistry({ config });
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  project = uniqueName("rbp");
  other = uniqueName("rbq");
  for (const name of [project, other]) await expectStatus(api(a, "POST", "/projects", ADMIN, { name }), 201);
  await pushImageAs(a.url, `${project}/app`, "v1", ADMIN);
  await pushImageAs(a.url, `${other}/app`, "v1", ADMIN);
  projectAdmin = await addMember("padm", "admin");
  developer = await addMember("pdev", "developer");
});

afterAll(async () => {
  await sql?.end();
  await b?.stop();
  await a?.stop();
  await database?.drop();
});

function api(registry: TestRegistry, method: string, path: string, authorization: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Authorization: authorization, "X-Forwarded-For": CLIENT };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${registry.url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** The answer's JSON when its status is the one expected; otherwise the test fails showing the body. */
async function expectStatus<T = unknown>(res: Promise<Response>, status: number): Promise<T> {
  const r = await res;
  const text = await r.text();
  expect({ status: r.status, text: r.status === status ? "" : text }).toEqual({ status, text: "" });
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The status and the error's code and detail, for refusals. */
async function refusal(res: Promise<Response>): Promise<{ status: number; code: string; message: string }> {
  const r = await res;
  const body = (await r.json()) as { errors?: Array<{ code: string; detail: unknown }> };
  return { status: r.status, code: body.errors?.[0]?.code ?? "", message: String(body.errors?.[0]?.detail ?? "") };
}

async function addMember(label: string, role: string): Promise<Creds> {
  const creds = { username: uniqueName(label), password: `pw-${Math.random().toString(36).slice(2)}-Secret` };
  await expectStatus(api(a, "POST", "/users", ADMIN, { ...creds, isAdmin: false }), 201);
  await expectStatus(api(a, "PUT", `/projects/${project}/members/${creds.username}`, ADMIN, { role }), 204);
  return creds;
}

/** GET /token as docker login does it, from the test's client address; the status. */
async function tokenStatus(registry: TestRegistry, creds: Creds): Promise<number> {
  const query = new URLSearchParams({ service: "berth", account: creds.username, scope: `repository:${project}/app:pull` });
  const res = await fetch(`${registry.url}/token?${query}`, { headers: { Authorization: basic(creds.username, creds.password), "X-Forwarded-For": CLIENT } });
  await res.arrayBuffer();
  return res.status;
}

/** Pulls the project's manifest with Basic credentials: the status. */
async function pullStatus(registry: TestRegistry, creds: Creds, repository = `${project}/app`): Promise<number> {
  const res = await getManifestAs(registry.url, repository, "v1", basic(creds.username, creds.password));
  await res.arrayBuffer();
  return res.status;
}

/** Audit rows from both replicas (each writes its own events into the shared database). */
async function audited(action: string) {
  await b.deps.audit.flush();
  return a.deps.audit.query({ action, limit: 1000 });
}

async function events(action: string, reference: string) {
  return audited(action).then((rows) => rows.filter((e) => e.reference === reference));
}

const pull = (p: string) => [{ project: p, actions: ["pull"] }];
const future = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();

describe("the lifecycle, each action one event", () => {
  it("an admin creates, edits, disables, enables, refreshes and deletes a system robot", async () => {
    const name = uniqueName("sys");
    const full = `robot$${name}`;
    const created = await expectStatus<{ robot: RobotBody; secret: string }>(api(a, "POST", "/robots", ADMIN, { name, permissions: pull(project) }), 201);
    expect(created.robot).toMatchObject({ name: full, project: null, disabled: false, expiresAt: null });
    let creds = { username: full, password: created.secret };
    expect(await pullStatus(a, creds)).toBe(200);

    // Rights: the robot may now also pull the other project; the edit answers with the robot as it is.
    const widened = await expectStatus<RobotBody>(api(a, "PATCH", `/robots/${encodeURIComponent(full)}`, ADMIN, { permissions: [...pull(project), ...pull(other)] }), 200);
    expect(widened.permissions).toEqual([...pull(project), ...pull(other)]);
    expect(await pullStatus(b, creds, `${other}/app`)).toBe(200);

    // Expiry: in the past refused as at creation, a future one kept, null lifts it.
    const past = await refusal(api(a, "PATCH", `/robots/${full}`, ADMIN, { expiresAt: new Date(Date.now() - 60_000).toISOString() }));
    expect(past).toEqual({ status: 400, code: "INVALID_REQUEST", message: expect.stringContaining("expiresAt: must be in the future") });
    const expiry = future();
    expect(await expectStatus<RobotBody>(api(a, "PATCH", `/robots/${full}`, ADMIN, { expiresAt: expiry, description: "nightly builds" }), 200)).toMatchObject({
      expiresAt: expiry,
      description: "nightly builds",
    });
    expect(await expectStatus<RobotBody>(api(a, "PATCH", `/robots/${full}`, ADMIN, { expiresAt: null }), 200)).toMatchObject({ expiresAt: null });
    for (const body of [{}, { expiresAt: "tomorrow" }, { disabled: "yes" }, { name: "renamed" }, { permissions: [] }, { permissions: pull("Bad/Name") }]) {
      expect({ body, status: (await refusal(api(a, "PATCH", `/robots/${full}`, ADMIN, body))).status }).toEqual({ body, status: 400 });
    }

    // Disabled: refused on both replicas at once; enabled again: logs in.
    expect(await expectStatus<RobotBody>(api(a, "PATCH", `/robots/${full}`, ADMIN, { disabled: true }), 200)).toMatchObject({ disabled: true });
    expect(await tokenStatus(b, creds)).toBe(401);
    expect(await pullStatus(a, creds)).toBe(401);
    await expectStatus(api(b, "PATCH", `/robots/${full}`, ADMIN, { disabled: false }), 200);
    expect(await tokenStatus(a, creds)).toBe(200);

    // A new secret, shown once: the old one stops working.
    const refreshed = await expectStatus<{ robot: RobotBody; secret: string }>(api(a, "POST", `/robots/${full}/secret`, ADMIN), 200);
    expect(refreshed.secret).not.toBe(creds.password);
    expect(await tokenStatus(a, creds)).toBe(401);
    creds = { username: full, password: refreshed.secret };
    expect(await tokenStatus(a, creds)).toBe(200);
    expect(JSON.stringify(await expectStatus(api(a, "GET", "/robots", ADMIN), 200))).not.toContain(refreshed.secret);

    await expectStatus(api(a, "DELETE", `/robots/${full}`, ADMIN), 204);
    expect(await tokenStatus(b, creds)).toBe(401);
    for (const [method, path] of [["PATCH", `/robots/${full}`], ["POST", `/robots/${full}/secret`], ["DELETE", `/robots/${full}`]] as const) {
      expect({ path, ...(await refusal(api(a, method, path, ADMIN, method === "PATCH" ? { disabled: true } : undefined))) }).toMatchObject({ path, status: 404, code: "NOT_FOUND" });
    }

    const reference = `robot ${full}`;
    const byAdmin = { actor: "admin", clientIp: CLIENT, success: true };
    expect(await events("robot.created", reference)).toEqual([expect.objectContaining({ ...byAdmin, detail: { permissions: pull(project), expiresAt: null } })]);
    expect(await events("robot.updated", reference)).toEqual([
      expect.objectContaining({ ...byAdmin, detail: { expiresAt: null } }),
      expect.objectContaining({ ...byAdmin, detail: { expiresAt: expiry, description: "nightly builds" } }),
      expect.objectContaining({ ...byAdmin, detail: { permissions: [...pull(project), ...pull(other)] } }),
    ]);
    expect(await events("robot.disabled", reference)).toEqual([expect.objectContaining(byAdmin)]);
    expect(await events("robot.enabled", reference)).toEqual([expect.objectContaining(byAdmin)]);
    expect(await events("robot.secret_refreshed", reference)).toEqual([expect.objectContaining(byAdmin)]);
    expect(await events("robot.deleted", reference)).toEqual([expect.objectContaining(byAdmin)]);
  });
});

describe("project robots", () => {
  it("a project admin manages its project's robots: robot$<project>+<name>, rights within the project", async () => {
    const as = basic(projectAdmin.username, projectAdmin.password);
    const base = `/projects/${project}/robots`;
    const created = await expectStatus<{ robot: RobotBody; secret: string }>(
      api(a, "POST", base, as, { name: "ci", description: "pipeline", permissions: [{ project, actions: ["pull", "push"] }], expiresAt: future() }),
      201,
    );
    const full = `robot$${project}+ci`;
    expect(created.robot).toMatchObject({ name: full, project, description: "pipeline" });
    const creds = { username: full, password: created.secret };
    await pushImageAs(b.url, `${project}/from-ci`, "1", basic(creds.username, creds.password));
    expect(await pullStatus(a, creds, `${other}/app`)).toBe(403);

    // Rights outside the project are refused, at creation and on edit.
    for (const permissions of [pull(other), pull("*"), [...pull(project), ...pull(other)]]) {
      const res = await refusal(api(a, "POST", base, as, { name: "wide", permissions }));
      expect({ permissions, status: res.status, message: res.message }).toEqual({ permissions, status: 400, message: expect.stringContaining(`may only be given rights on ${project}`) });
      expect((await refusal(api(a, "PATCH", `${base}/ci`, as, { permissions }))).status).toBe(400);
    }
    const past = await refusal(api(a, "PATCH", `${base}/ci`, as, { expiresAt: new Date(Date.now() - 1000).toISOString() }));
    expect(past.status).toBe(400);

    // The short name and the full one (escaped or not) name the same robot.
    expect(await expectStatus<RobotBody>(api(a, "PATCH", `${base}/ci`, as, { permissions: pull(project) }), 200)).toMatchObject({ permissions: pull(project) });
    expect(await expectStatus<RobotBody>(api(b, "PATCH", `${base}/${encodeURIComponent(full)}`, as, { disabled: true }), 200)).toMatchObject({ disabled: true });
    expect(await tokenStatus(a, creds)).toBe(401);
    await expectStatus(api(a, "PATCH", `${base}/${full}`, as, { disabled: false }), 200);
    const refreshed = await expectStatus<{ secret: string }>(api(a, "POST", `${base}/ci/secret`, as), 200);
    expect(await tokenStatus(b, creds)).toBe(401);
    expect(await tokenStatus(b, { username: full, password: refreshed.secret })).toBe(200);
    expect((await expectStatus<RobotBody[]>(api(a, "GET", base, as), 200)).map((r) => r.name)).toEqual([full]);

    // The admin sees it among all robots, marked with its project, and may manage it too (within the project).
    const all = await expectStatus<RobotBody[]>(api(a, "GET", "/robots", ADMIN), 200);
    expect(all.find((r) => r.name === full)).toMatchObject({ project });
    expect((await refusal(api(a, "PATCH", `/robots/${full}`, ADMIN, { permissions: pull(other) }))).status).toBe(400);

    await expectStatus(api(a, "DELETE", `${base}/ci`, as), 204);
    expect(await tokenStatus(b, { username: full, password: refreshed.secret })).toBe(401);
    const reference = `robot ${full}`;
    const byPadmin = { actor: projectAdmin.username, clientIp: CLIENT, success: true };
    expect(await events("robot.created", reference)).toEqual([expect.objectContaining({ ...byPadmin, detail: expect.objectContaining({ project }) })]);
    expect(await events("robot.disabled", reference)).toEqual([expect.objectContaining({ ...byPadmin, detail: { project } })]);
    expect(await events("robot.secret_refreshed", reference)).toEqual([expect.objectContaining({ ...byPadmin, detail: { project } })]);
    expect(await events("robot.deleted", reference)).toEqual([expect.objectContaining({ ...byPadmin, detail: { project } })]);
  });

  it("a project admin cannot touch another project's robots, system robots, or the admin routes", async () => {
    const as = basic(projectAdmin.username, projectAdmin.password);
    const system = `robot$${uniqueName("sysr")}`;
    await expectStatus(api(a, "POST", "/robots", ADMIN, { name: system, permissions: pull(project) }), 201);
    const theirs = await expectStatus<{ robot: RobotBody }>(api(a, "POST", `/projects/${other}/robots`, ADMIN, { name: "ci", permissions: pull(other) }), 201);
    const mine = `/projects/${project}/robots`;

    // Another project's list and every action on it: 403, like every project-admin route.
    for (const [method, path, body] of [
      ["GET", `/projects/${other}/robots`],
      ["POST", `/projects/${other}/robots`, { name: "sneak", permissions: pull(other) }],
      ["PATCH", `/projects/${other}/robots/ci`, { disabled: true }],
      ["POST", `/projects/${other}/robots/ci/secret`],
      ["DELETE", `/projects/${other}/robots/ci`],
      ["GET", "/robots"],
      ["POST", "/robots", { name: "sneak", permissions: pull(project) }],
      ["PATCH", `/robots/${system}`, { disabled: true }],
      ["POST", `/robots/${system}/secret`],
      ["DELETE", `/robots/${system}`],
    ] as Array<[string, string, unknown?]>) {
      expect({ method, path, status: (await refusal(api(a, method, path, as, body))).status }).toEqual({ method, path, status: 403 });
    }
    // Through their own project's routes, robots that are not theirs do not exist.
    for (const name of [system, theirs.robot.name, encodeURIComponent(theirs.robot.name), "%E0%A4%A"]) {
      for (const [method, suffix] of [["PATCH", ""], ["POST", "/secret"], ["DELETE", ""]] as const) {
        const res = await refusal(api(a, method, `${mine}/${name}${suffix}`, as, method === "PATCH" ? { disabled: true } : undefined));
        expect({ name, method, status: res.status }).toEqual({ name, method, status: name.startsWith("%E0") ? 400 : 404 });
      }
    }
    // A developer of the project, and a robot (even one with every right on it), manage none of its robots.
    const robotCreds = { username: theirs.robot.name, password: "x" };
    const strong = await expectStatus<{ robot: RobotBody; secret: string }>(api(a, "POST", mine, as, { name: "strong", permissions: [{ project, actions: ["pull", "push", "delete"] }] }), 201);
    for (const who of [basic(developer.username, developer.password), basic(strong.robot.name, strong.secret)]) {
      expect((await refusal(api(a, "GET", mine, who))).status).toBe(403);
      expect((await refusal(api(a, "POST", `${mine}/strong/secret`, who))).status).toBe(403);
    }
    expect(await tokenStatus(a, robotCreds)).toBe(401);

    // Untouched by all of that.
    const robots = await expectStatus<RobotBody[]>(api(a, "GET", "/robots", ADMIN), 200);
    expect(robots.filter((r) => [system, theirs.robot.name].includes(r.name)).map((r) => r.disabled)).toEqual([false, false]);
    await expectStatus(api(a, "DELETE", `/robots/${system}`, ADMIN), 204);
    await expectStatus(api(a, "DELETE", `${mine}/strong`, as), 204);
  });

  it("a project's robots go with the project, on every replica", async () => {
    const doomed = uniqueName("rbd");
    await expectStatus(api(a, "POST", "/projects", ADMIN, { name: doomed }), 201);
    const created = await expectStatus<{ robot: RobotBody; secret: string }>(api(a, "POST", `/projects/${doomed}/robots`, ADMIN, { name: "ci", permissions: pull(doomed) }), 201);
    const creds = { username: created.robot.name, password: created.secret };
    const token = await tokenFor(b.url, creds, `repository:${doomed}/x:pull`);
    await expectStatus(api(a, "DELETE", `/projects/${doomed}`, ADMIN), 204);
    expect(await tokenStatus(b, creds)).toBe(401);
    await waitFor("the robot's token refused on the other replica", async () => (await getManifestAs(b.url, `${doomed}/x`, "v1", bearer(token))).status === 401, {
      timeoutMs: PROPAGATION_LIMIT_MS,
    });
    expect((await expectStatus<RobotBody[]>(api(a, "GET", "/robots", ADMIN), 200)).map((r) => r.name)).not.toContain(created.robot.name);
  });
});

describe("refreshing a secret", () => {
  it("ends the old secret at once on the second replica (Basic, /token) and its tokens within seconds", async () => {
    const name = uniqueName("rot");
    const created = await expectStatus<{ robot: RobotBody; secret: string }>(api(a, "POST", "/robots", ADMIN, { name, permissions: pull(project) }), 201);
    const old = { username: created.robot.name, password: created.secret };
    // Replica b has seen the old secret work: its recent-logins cache and credential-state cache hold it.
    expect(await pullStatus(b, old)).toBe(200);
    expect(await tokenStatus(b, old)).toBe(200);
    const token = await tokenFor(b.url, old, `repository:${project}/app:pull`);
    expect((await getManifestAs(b.url, `${project}/app`, "v1", bearer(token))).status).toBe(200);

    const refreshed = await expectStatus<{ secret: string }>(api(a, "POST", `/robots/${old.username}/secret`, ADMIN), 200);
    expect(await pullStatus(b, old)).toBe(401);
    expect(await tokenStatus(b, old)).toBe(401);
    await waitFor("the old secret's token refused on replica b", async () => (await getManifestAs(b.url, `${project}/app`, "v1", bearer(token))).status === 401, {
      timeoutMs: PROPAGATION_LIMIT_MS,
    });
    const fresh = { username: old.username, password: refreshed.secret };
    expect(await pullStatus(b, fresh)).toBe(200);
    expect(await tokenStatus(a, fresh)).toBe(200);
    await expectStatus(api(a, "DELETE", `/robots/${old.username}`, ADMIN), 204);
  });

  it("two creations of one name at once: one robot, the other answer 409", async () => {
    const name = uniqueName("twin");
    const statuses = await Promise.all([a, b, a, b].map(async (r) => (await api(r, "POST", "/robots", ADMIN, { name, permissions: pull(project) })).status));
    expect(statuses.sort()).toEqual([201, 409, 409, 409]);
    await expectStatus(api(a, "DELETE", `/robots/robot$${name}`, ADMIN), 204);
  });

  it("two refreshes at once: exactly one secret is left working", async () => {
    const name = uniqueName("race");
    await expectStatus(api(a, "POST", "/robots", ADMIN, { name, permissions: pull(project) }), 201);
    const full = `robot$${name}`;
    const [one, two] = await Promise.all([a, b].map((r) => expectStatus<{ secret: string }>(api(r, "POST", `/robots/${full}/secret`, ADMIN), 200)));
    const working = [];
    for (const secret of [one.secret, two.secret]) working.push(await tokenStatus(a, { username: full, password: secret }));
    expect(working.sort()).toEqual([200, 401]);
    await expectStatus(api(a, "DELETE", `/robots/${full}`, ADMIN), 204);
  });
});

describe("refused robot logins", () => {
  it("each is one audit event with the robot, the client address and the reason", async () => {
    const make = async (label: string) => {
      const created = await expectStatus<{ robot: RobotBody; secret: string }>(api(a, "POST", `/projects/${project}/robots`, ADMIN, { name: uniqueName(label), permissions: pull(project) }), 201);
      return { username: created.robot.name, password: created.secret };
    };
    const wrong = await make("wrong");
    const disabled = await make("off");
    const expired = await make("old");
    await expectStatus(api(a, "PATCH", `/robots/${disabled.username}`, ADMIN, { disabled: true }), 200);
    // The API refuses a past expiry; the clock passing it is what happens in life.
    await sql.query(`UPDATE robot SET expires_at = now() - interval '1 minute' WHERE name = $1`, [expired.username]);
    const unknown = { username: `robot$${project}+${uniqueName("ghost")}`, password: "whatever-secret" };

    expect(await tokenStatus(b, { ...wrong, password: "not-the-secret" })).toBe(401);
    expect(await tokenStatus(a, disabled)).toBe(401);
    expect(await tokenStatus(b, expired)).toBe(401);
    expect(await tokenStatus(a, unknown)).toBe(401);

    const logins = (await audited("login")).filter((e) => e.success === false);
    for (const [creds, reason] of [[wrong, "wrong_secret"], [disabled, "disabled"], [expired, "expired"], [unknown, "unknown_account"]] as const) {
      expect({ robot: creds.username, events: logins.filter((e) => e.actor === creds.username) }).toEqual({
        robot: creds.username,
        events: [expect.objectContaining({ actor: creds.username, clientIp: CLIENT, success: false, detail: { reason } })],
      });
    }
    // The secrets tried are not recorded.
    expect(JSON.stringify(logins)).not.toMatch(/not-the-secret|whatever-secret/);
  });
});
