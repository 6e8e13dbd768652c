// Identity (issue 14): every way an account changes — password change, disabling, deletion and re-creation
// under the same name, loss of rights (admin flag, project role removed or lowered) — against every kind of
// credential the account held — access token (/v2), API token (/api/v1), refresh token, web session, Basic
// credentials, a robot's secret — on two Berth replicas sharing one PostgreSQL database. Changes are made on
// one replica (or by raw SQL from outside Berth); the old credentials must fail on both at once (access
// tokens: within seconds), with the right answer (401 with a Bearer challenge on /v2, a 401 JSON error on the
// API), and credentials obtained afterwards must work.
import pg from "pg";
import { waitFor } from "../support/wait-for";
import { CredentialStates } from "../../src/metadata/credential-states";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import type { TestRegistry } from "../support/registry";
import { login, type Session } from "../support/web-client";
import {
  ADMIN_PASSWORD,
  basic,
  bearer,
  getManifestAs,
  getToken,
  parseChallenge,
  postToken,
  pushImageAs,
  startAuthRegistry,
  tokenFor,
  uniqueName,
  v2,
  type Creds,
  type TokenBody,
} from "../support/auth-helpers";

jest.setTimeout(120_000);

const ADMIN = basic("admin", ADMIN_PASSWORD);
const API_SCOPE = "api:admin:*";
/** Generous: revocation of access tokens normally reaches the other replica in milliseconds. */
const PROPAGATION_LIMIT_MS = 15_000;

let database: TestDatabase;
let a: TestRegistry;
let b: TestRegistry;
let sql: pg.Client;
let project: string;
let repo: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = { databaseUrl: database.url };
  a = await startAuthRegistry({ config });
  b = await startAuthRegistry({ config });
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  project = uniqueName("idp");
  repo = `${project}/app`;
  await pushImageAs(a.url, repo, "v1", ADMIN);
});

afterAll(async () => {
  await sql?.end();
  await b?.stop();
  await a?.stop();
  await database?.drop();
});

function api(base: string, method: string, path: string, authorization: string | Session, body?: unknown): Promise<Response> {
  const headers: Record<string, string> =
    typeof authorization === "string" ? { Authorization: authorization } : { Cookie: authorization.cookie, "X-Berth-CSRF": authorization.csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function ok(res: Promise<Response>, status = 200): Promise<void> {
  const r = await res;
  const text = await r.text();
  expect({ status: r.status, text: r.status === status ? "" : text }).toEqual({ status, text: "" });
}

async function addUser(label: string, options: { isAdmin?: boolean; role?: string } = {}): Promise<Creds> {
  const creds = { username: uniqueName(label), password: `pw-${Math.random().toString(36).slice(2)}-Secret` };
  await ok(api(a.url, "POST", "/users", ADMIN, { ...creds, isAdmin: options.isAdmin ?? false }), 201);
  if (options.role) await ok(api(a.url, "PUT", `/projects/${project}/members/${creds.username}`, ADMIN, { role: options.role }), 204);
  return creds;
}

/** Every credential an account can hold, obtained on replica A. */
interface Held {
  basic: string;
  /** A registry token for pulling the test repository. */
  access: string;
  /** A token for the JSON API. */
  apiToken: string;
  refresh: string;
  /** Users only: robots cannot sign in to the web UI. */
  session?: Session;
}

async function acquire(creds: Creds): Promise<Held> {
  const robot = creds.username.startsWith("robot$");
  const offline = await getToken(a.url, { creds, scopes: [`repository:${repo}:pull`], offline: true });
  expect(offline.status).toBe(200);
  const refresh = ((await offline.json()) as TokenBody).refresh_token!;
  expect(refresh).toBeTruthy();
  return {
    basic: basic(creds.username, creds.password),
    access: await tokenFor(a.url, creds, `repository:${repo}:pull`),
    apiToken: await tokenFor(a.url, creds, API_SCOPE),
    refresh,
    session: robot ? undefined : await login(a.url, creds.username, creds.password),
  };
}

type Kind = "access" | "apiToken" | "refresh" | "session" | "basic";

/** One credential's answer on one replica: the status, with the answer's shape when refused. */
async function use(registry: TestRegistry, held: Held, kind: Kind): Promise<string> {
  switch (kind) {
    case "access":
      return registryAnswer(await getManifestAs(registry.url, repo, "v1", bearer(held.access)));
    case "basic":
      return registryAnswer(await getManifestAs(registry.url, repo, "v1", held.basic));
    case "apiToken":
      return apiAnswer(await api(registry.url, "GET", "/me", bearer(held.apiToken)));
    case "session":
      return apiAnswer(await api(registry.url, "GET", "/me", held.session!));
    case "refresh":
      return apiAnswer(await postToken(registry.url, { grant_type: "refresh_token", refresh_token: held.refresh, service: "berth", scope: `repository:${repo}:pull` }));
  }
}

/** "200", "403 DENIED", or "401 UNAUTHORIZED Bearer invalid_token" (the /v2 challenge must send the client for a token). */
async function registryAnswer(res: Response): Promise<string> {
  const body = await res.text();
  if (res.status === 200) return "200";
  const code = (JSON.parse(body) as { errors: Array<{ code: string }> }).errors[0].code;
  if (res.status !== 401) return `${res.status} ${code}`;
  const challenge = parseChallenge(res.headers.get("www-authenticate"));
  return `401 ${code} ${challenge.scheme}${challenge.realm?.endsWith("/token") ? "" : " (no realm)"}${challenge.error ? ` ${challenge.error}` : ""}`;
}

/** "200", or the status and error code of the API's JSON error. */
async function apiAnswer(res: Response): Promise<string> {
  const body = await res.text();
  if (res.status === 200) return "200";
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return `${res.status} ${(JSON.parse(body) as { errors: Array<{ code: string }> }).errors[0].code}`;
}

const kindsOf = (held: Held): Kind[] => ["access", "apiToken", "refresh", ...(held.session ? (["session"] as const) : []), "basic"];

/** What every credential answers on both replicas. */
async function answers(held: Held): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, registry] of [["a", a], ["b", b]] as const) {
    for (const kind of kindsOf(held)) out[`${name}.${kind}`] = await use(registry, held, kind);
  }
  return out;
}

const all = (held: Held, answer: string, overrides: Partial<Record<Kind, string>> = {}): Record<string, string> =>
  Object.fromEntries(["a", "b"].flatMap((r) => kindsOf(held).map((k) => [`${r}.${k}`, overrides[k] ?? answer])));

const REFUSED = { access: "401 UNAUTHORIZED Bearer invalid_token", apiToken: "401 UNAUTHORIZED", refresh: "401 UNAUTHORIZED", session: "401 UNAUTHORIZED", basic: "401 UNAUTHORIZED Bearer" };

/**
 * After a change: refresh tokens, sessions, API tokens and Basic credentials must be refused at once on both
 * replicas; registry access tokens within seconds (the replicas' caches hear of the change from Postgres).
 */
async function expectEnded(held: Held, basicAfter: string = REFUSED.basic): Promise<void> {
  const now = await answers(held);
  const immediate = Object.fromEntries(Object.entries(now).filter(([k]) => !k.endsWith(".access")));
  const expected = all(held, "", { ...REFUSED, basic: basicAfter });
  expect(immediate).toEqual(Object.fromEntries(Object.entries(expected).filter(([k]) => !k.endsWith(".access"))));
  const started = Date.now();
  await waitFor(
    "old access tokens refused on both replicas",
    async () => (await use(a, held, "access")) === REFUSED.access && (await use(b, held, "access")) === REFUSED.access,
    { timeoutMs: PROPAGATION_LIMIT_MS, intervalMs: 50 },
  );
  expect(Date.now() - started).toBeLessThan(PROPAGATION_LIMIT_MS);
  expect(await answers(held)).toEqual(expected);
}

describe("a password change", () => {
  it("ends every credential of the old password on both replicas; the new password's credentials work", async () => {
    const user = await addUser("pw", { role: "developer" });
    const held = await acquire(user);
    expect(await answers(held)).toEqual(all(held, "200"));

    const renewed = { ...user, password: `${user.password}-new` };
    await ok(api(b.url, "PATCH", `/users/${user.username}`, ADMIN, { password: renewed.password }));
    await expectEnded(held);
    expect(await answers(await acquire(renewed))).toEqual(all(held, "200"));
  });

  it("made by `berth user passwd`-style SQL outside Berth ends them too (the database moves the generation on)", async () => {
    const user = await addUser("pwsql", { role: "guest" });
    const held = await acquire(user);
    expect(await answers(held)).toEqual(all(held, "200"));
    await sql.query(`UPDATE user_account SET password_hash = 'scrypt$changed-elsewhere' WHERE username = $1`, [user.username]);
    await expectEnded(held);
  });
});

describe("disabling", () => {
  it("ends every credential on both replicas; re-enabling does not bring the old ones back", async () => {
    const user = await addUser("off", { role: "developer" });
    const held = await acquire(user);
    expect(await answers(held)).toEqual(all(held, "200"));

    await ok(api(a.url, "PATCH", `/users/${user.username}`, ADMIN, { disabled: true }));
    await expectEnded(held);
    expect((await getToken(b.url, { creds: user })).status).toBe(401);

    await ok(api(b.url, "PATCH", `/users/${user.username}`, ADMIN, { disabled: false }));
    expect(await answers(held)).toEqual(all(held, "", { ...REFUSED, basic: "200" }));
    expect(await answers(await acquire(user))).toEqual(all(held, "200"));
  });
});

describe("deleting an account and creating another with the same name", () => {
  it("gives the new account none of the old one's tokens or sessions, even as an admin with the same password", async () => {
    const user = await addUser("dave", { role: "guest" });
    const held = await acquire(user);
    expect(await answers(held)).toEqual(all(held, "200"));

    await ok(api(a.url, "DELETE", `/users/${user.username}`, ADMIN), 204);
    await ok(api(b.url, "POST", "/users", ADMIN, { ...user, isAdmin: true }), 201);
    // Basic credentials are the new account's own (same name, same password): they work, with its rights.
    await expectEnded(held, "200");
    for (const registry of [a, b]) {
      expect(await apiAnswer(await api(registry.url, "GET", "/users", held.session!))).toBe("401 UNAUTHORIZED");
      expect(await apiAnswer(await api(registry.url, "GET", "/users", bearer(held.apiToken)))).toBe("401 UNAUTHORIZED");
      const refreshed = await postToken(registry.url, { grant_type: "refresh_token", refresh_token: held.refresh, service: "berth", scope: "registry:catalog:*" });
      expect(refreshed.status).toBe(401);
    }
    const fresh = await acquire(user);
    expect(await answers(fresh)).toEqual(all(fresh, "200"));
    await ok(api(b.url, "GET", "/users", fresh.session!));
  });

  it("the same for a robot: its old secret and tokens die, the new robot's work", async () => {
    const name = uniqueName("ci");
    const create = async (registry: TestRegistry) => {
      const res = await api(registry.url, "POST", "/robots", ADMIN, { name, permissions: [{ project, actions: ["pull"] }] });
      expect(res.status).toBe(201);
      return { username: `robot$${name}`, password: ((await res.json()) as { secret: string }).secret };
    };
    const held = await acquire(await create(a));
    expect(await answers(held)).toEqual(all(held, "200"));

    await ok(api(b.url, "DELETE", `/robots/robot$${name}`, ADMIN), 204);
    const second = await create(b);
    await expectEnded(held);
    expect(await answers(await acquire(second))).toEqual(all(held, "200"));
  });
});

describe("losing rights", () => {
  it("the admin flag removed: tokens and sessions end; Basic credentials still log in, with a user's rights", async () => {
    const user = await addUser("boss", { isAdmin: true });
    const held = await acquire(user);
    expect(await answers(held)).toEqual(all(held, "200"));
    await ok(api(a.url, "GET", "/users", held.session!));

    await ok(api(b.url, "PATCH", `/users/${user.username}`, ADMIN, { isAdmin: false }));
    await expectEnded(held, "403 DENIED");
    const fresh = await acquire(user);
    for (const registry of [a, b]) {
      expect(await apiAnswer(await api(registry.url, "GET", "/users", fresh.session!))).toBe("403 DENIED");
      expect(await apiAnswer(await api(registry.url, "GET", "/users", bearer(fresh.apiToken)))).toBe("403 DENIED");
    }
  });

  it("a project role removed: tokens and sessions end; new ones no longer reach the project", async () => {
    const user = await addUser("member", { role: "developer" });
    const held = await acquire(user);
    expect(await answers(held)).toEqual(all(held, "200"));

    await ok(api(b.url, "DELETE", `/projects/${project}/members/${user.username}`, ADMIN), 204);
    await expectEnded(held, "403 DENIED");
    const session = await login(b.url, user.username, user.password);
    await ok(api(a.url, "GET", "/me", session));
    // The token grants nothing now, and the account could not get more: refused plainly.
    expect(await registryAnswer(await getManifestAs(a.url, repo, "v1", bearer(await tokenFor(b.url, user, `repository:${repo}:pull`))))).toBe("403 DENIED");
  });

  it("a role lowered ends credentials (a push token dies); a role raised does not", async () => {
    const user = await addUser("lowered", { role: "guest" });
    const held = await acquire(user);
    await ok(api(a.url, "PUT", `/projects/${project}/members/${user.username}`, ADMIN, { role: "maintainer" }), 204);
    expect(await answers(held)).toEqual(all(held, "200"));

    const push = await tokenFor(a.url, user, `repository:${repo}:pull,push`);
    await ok(api(b.url, "PUT", `/projects/${project}/members/${user.username}`, ADMIN, { role: "guest" }), 204);
    await expectEnded(held, "200");
    await waitFor("the push token refused on replica a", async () => (await registryAnswer(await v2(a.url, `/v2/${repo}/tags/list`, bearer(push)))).startsWith("401"), {
      timeoutMs: PROPAGATION_LIMIT_MS,
    });
    expect(await answers(await acquire(user))).toEqual(all(held, "200"));
  });

  it("a project deleted does not end its members' other credentials", async () => {
    const user = await addUser("stay", { role: "developer" });
    const other = uniqueName("gone");
    await ok(api(a.url, "POST", "/projects", ADMIN, { name: other }), 201);
    await ok(api(a.url, "PUT", `/projects/${other}/members/${user.username}`, ADMIN, { role: "developer" }), 204);
    const held = await acquire(user);
    await ok(api(b.url, "DELETE", `/projects/${other}`, ADMIN), 204);
    expect(await answers(held)).toEqual(all(held, "200"));
  });
});

describe("a robot disabled outside Berth (SQL)", () => {
  it("is refused with all its credentials on both replicas", async () => {
    const name = uniqueName("sqlbot");
    const res = await api(a.url, "POST", "/robots", ADMIN, { name, permissions: [{ project, actions: ["pull"] }] });
    const held = await acquire({ username: `robot$${name}`, password: ((await res.json()) as { secret: string }).secret });
    expect(await answers(held)).toEqual(all(held, "200"));
    await sql.query(`UPDATE robot SET disabled = true WHERE name = $1`, [`robot$${name}`]);
    await expectEnded(held);
  });
});

describe("the credential-state cache", () => {
  it("hears a change made on the other replica from Postgres, long before its entries would expire", async () => {
    const user = await addUser("heard");
    const id = (await a.deps.stores.accounts.findUser(user.username))!.id;
    const { states, close } = await CredentialStates.listening(b.deps.database, b.deps.stores.accounts, 10 * 60_000);
    try {
      expect(await states.credentialState({ kind: "user", id })).toEqual({ generation: 1, disabled: false, expiresAt: null });
      await ok(api(a.url, "PATCH", `/users/${user.username}`, ADMIN, { disabled: true }));
      await waitFor("the cache on replica b dropping the changed account", async () => (await states.credentialState({ kind: "user", id }))?.disabled === true, {
        timeoutMs: PROPAGATION_LIMIT_MS,
      });
      await ok(api(a.url, "DELETE", `/users/${user.username}`, ADMIN), 204);
      await waitFor("the cache on replica b dropping the deleted account", async () => (await states.credentialState({ kind: "user", id })) === null, {
        timeoutMs: PROPAGATION_LIMIT_MS,
      });
    } finally {
      await close();
    }
  });
});

describe("changes that do not touch credentials", () => {
  it("keep every credential valid and are not announced; credential changes and deletions still are", async () => {
    const user = await addUser("quiet", { role: "guest" });
    const robotName = uniqueName("quietbot");
    const created = await api(a.url, "POST", "/robots", ADMIN, { name: robotName, permissions: [{ project, actions: ["pull"] }] });
    const robot = { username: `robot$${robotName}`, password: ((await created.json()) as { secret: string }).secret };
    const userId = (await a.deps.stores.accounts.findUser(user.username))!.id;
    const robotId = (await a.deps.stores.accounts.findRobot(robot.username))!.id;
    const heldUser = await acquire(user);
    const heldRobot = await acquire(robot);

    const listener = new pg.Client({ connectionString: database.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on("notification", (n) => heard.push(n.payload ?? ""));
    await listener.query("LISTEN berth_account_change");
    try {
      // Columns credentials do not depend on, and an API update that changes nothing they depend on.
      await sql.query(`UPDATE user_account SET updated_at = now() + interval '1 hour' WHERE id = $1`, [userId]);
      await sql.query(`UPDATE robot SET description = 'renamed purpose' WHERE id = $1`, [robotId]);
      await ok(api(a.url, "PATCH", `/users/${user.username}`, ADMIN, { isAdmin: false }));
      // Announcements arrive in commit order: once this one is heard, any for the updates above would have been.
      await sql.query(`UPDATE robot SET disabled = true WHERE id = $1`, [robotId]);
      await waitFor("the robot's disabling announced", () => heard.includes(`robot:${robotId}`), { timeoutMs: PROPAGATION_LIMIT_MS });
      expect(heard).toEqual([`robot:${robotId}`]);
      expect(await answers(heldUser)).toEqual(all(heldUser, "200"));
      await expectEnded(heldRobot);

      await sql.query(`UPDATE user_account SET password_hash = 'scrypt$changed-elsewhere' WHERE id = $1`, [userId]);
      await waitFor("the password change announced", () => heard.includes(`user:${userId}`), { timeoutMs: PROPAGATION_LIMIT_MS });
      await expectEnded(heldUser);
      await ok(api(a.url, "DELETE", `/robots/${robot.username}`, ADMIN), 204);
      await waitFor("the robot's deletion announced", () => heard.filter((p) => p === `robot:${robotId}`).length === 2, { timeoutMs: PROPAGATION_LIMIT_MS });
    } finally {
      await listener.end();
    }
  });
});

describe("the JSON API and registry tokens", () => {
  it("refuses registry tokens whatever they grant; takes tokens for the API, Basic credentials and sessions", async () => {
    const user = await addUser("owner");
    const target = await addUser("target");
    const own = uniqueName("own");
    await ok(api(a.url, "POST", "/projects", ADMIN, { name: own, owner: user.username }), 201);
    const put = (authorization: string) => api(b.url, "PUT", `/projects/${own}/members/${target.username}`, authorization, { role: "admin" });
    for (const scope of [`repository:${own}/app:pull`, `repository:${own}/app:pull,push,delete`, "registry:catalog:*"]) {
      const token = await tokenFor(a.url, user, scope);
      expect({ scope, answer: await apiAnswer(await put(bearer(token))) }).toEqual({ scope, answer: "401 UNAUTHORIZED" });
    }
    const adminRegistryToken = await tokenFor(a.url, { username: "admin", password: ADMIN_PASSWORD }, "registry:catalog:*");
    expect(await apiAnswer(await api(b.url, "GET", "/users", bearer(adminRegistryToken)))).toBe("401 UNAUTHORIZED");
    expect(await api(b.url, "GET", `/projects/${own}/members`, ADMIN).then((r) => r.json())).toEqual([{ username: user.username, role: "admin" }]);

    await ok(put(bearer(await tokenFor(a.url, user, API_SCOPE))), 204);
    await ok(put(basic(user.username, user.password)), 204);
    // Anonymous clients get no API token; an API token opens nothing on /v2.
    const anonymous = (await (await getToken(a.url, { scopes: [API_SCOPE] })).json()) as TokenBody;
    expect(await apiAnswer(await api(b.url, "GET", "/me", bearer(anonymous.token)))).toBe("401 UNAUTHORIZED");
    const apiToken = await tokenFor(a.url, { username: "admin", password: ADMIN_PASSWORD }, API_SCOPE);
    expect(await registryAnswer(await getManifestAs(b.url, repo, "v1", bearer(apiToken)))).toBe("401 UNAUTHORIZED Bearer insufficient_scope");
  });

  it("grants the API scope only as api:admin:*, and never takes a refresh token as an access token", async () => {
    const user = await addUser("scoped", { role: "guest" });
    for (const scope of ["api:admin:pull", "api:other:*", "api:admin", "api::*"]) {
      const token = await tokenFor(a.url, user, scope);
      expect({ scope, answer: await apiAnswer(await api(b.url, "GET", "/me", bearer(token))) }).toEqual({ scope, answer: "401 UNAUTHORIZED" });
    }
    const held = await acquire(user);
    expect(await apiAnswer(await api(b.url, "GET", "/me", bearer(held.refresh)))).toBe("401 UNAUTHORIZED");
    expect(await registryAnswer(await getManifestAs(b.url, repo, "v1", bearer(held.refresh)))).toBe("401 UNAUTHORIZED Bearer invalid_token");
    // And an access token is no refresh token.
    expect((await postToken(b.url, { grant_type: "refresh_token", refresh_token: held.apiToken, service: "berth" })).status).toBe(401);
  });
});

describe("robots born expired", () => {
  it("are refused with a 400 naming expiresAt, and not created", async () => {
    const name = uniqueName("late");
    for (const expiresAt of [new Date(Date.now() - 60_000).toISOString(), "2001-01-01T00:00:00Z"]) {
      const res = await api(a.url, "POST", "/robots", ADMIN, { name, permissions: [{ project, actions: ["pull"] }], expiresAt });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { errors: Array<{ code: string; message: string; detail: unknown }> }).errors[0]).toMatchObject({ code: "INVALID_REQUEST" });
    }
    const res = await api(a.url, "POST", "/robots", ADMIN, { name, permissions: [{ project, actions: ["pull"] }], expiresAt: "2001-01-01T00:00:00Z" });
    expect(JSON.stringify(await res.json())).toMatch(/expiresAt: must be in the future/);
    const robots = (await (await api(b.url, "GET", "/robots", ADMIN)).json()) as Array<{ name: string }>;
    expect(robots.map((r) => r.name)).not.toContain(`robot$${name}`);
  });
});
