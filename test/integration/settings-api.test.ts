// The Settings page's API (issue 15, item 7) on two Berth replicas sharing one PostgreSQL: each setting's
// effect (project creation by push, default visibility, token lifetime), a change made on one replica in
// force on the other within seconds, the effective configuration with every secret masked, bad values
// refused with the field named, and the API closed to everyone but administrators.
import jwt from "jsonwebtoken";
import pg from "pg";
import { waitFor } from "../support/wait-for";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import type { TestRegistry } from "../support/registry";
import { ADMIN_PASSWORD, addUser, basic, getToken, pushImageAs, runBerth, startAuthRegistry, uniqueName, v2, type Creds, type TokenBody } from "../support/auth-helpers";

jest.setTimeout(120_000);

const ADMIN = basic("admin", ADMIN_PASSWORD);
/** Secrets set in the configuration, each of which must never appear in an API answer. */
const SECRETS = {
  s3Secret: "S3-SECRET-KEY-never-shown-0001",
  s3KeyId: "AKIA-KEY-ID-never-shown-0002",
  dbPassword: "DB-PASSWORD-never-shown-0003",
  webhookSecret: "WEBHOOK-SECRET-never-shown-0004",
  webhookHeader: "Bearer WEBHOOK-HEADER-never-shown-0005",
  webhookPath: "hook-path-token-never-shown-0006",
  proxyPassword: "PROXY-PASSWORD-never-shown-0007",
  metricsToken: "METRICS-TOKEN-never-shown-0008",
};

let database: TestDatabase;
let a: TestRegistry;
let b: TestRegistry;
let user: Creds;

beforeAll(async () => {
  database = await createTestDatabase();
  // The test server trusts local connections: the password is carried in the URL and ignored by Postgres.
  const databaseUrl = new URL(database.url);
  databaseUrl.password = SECRETS.dbPassword;
  const config = {
    databaseUrl: databaseUrl.toString(),
    storage: { fsync: false, s3: { bucket: "unused", accessKeyId: SECRETS.s3KeyId, secretAccessKey: SECRETS.s3Secret } },
    mirror: { httpProxy: `http://proxyuser:${SECRETS.proxyPassword}@127.0.0.1:3128` },
    metrics: { token: SECRETS.metricsToken },
    notifications: {
      endpoints: [
        {
          name: "hook",
          url: `http://127.0.0.1:9/${SECRETS.webhookPath}`,
          secret: SECRETS.webhookSecret,
          headers: { Authorization: SECRETS.webhookHeader },
          // No delete happens in this file: the endpoint is only configured, never called.
          actions: ["delete"],
        },
      ],
    },
  };
  a = await startAuthRegistry({ config });
  b = await startAuthRegistry({ config });
  user = await addUser(a, "settings-user");
});

afterAll(async () => {
  // Back to the configured values, so the replicas' shared database is left as found.
  await a?.deps.access.update({ projectCreation: null, defaultVisibility: null, tokenTtlSeconds: null }, "test");
  await b?.stop();
  await a?.stop();
  await database?.drop();
});

function settingsApi(base: string, method: string, path: string, authorization: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${base}/api/v1${path}`, { method, headers, body: typeof body === "string" ? body : body === undefined ? undefined : JSON.stringify(body) });
}

async function put(base: string, body: unknown): Promise<Record<string, { value: unknown; source: string; default: unknown; updatedBy: string | null }>> {
  const res = await settingsApi(base, "PUT", "/settings", ADMIN, body);
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

async function settingsOn(base: string): Promise<Record<string, { value: unknown; source: string }>> {
  const res = await settingsApi(base, "GET", "/settings", ADMIN);
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

const userAuth = () => basic(user.username, user.password);

describe("who may use the settings API", () => {
  test.each([
    ["GET", "/settings", undefined],
    ["PUT", "/settings", { tokenTtlSeconds: 600 }],
    ["GET", "/settings/effective-config", undefined],
  ])("%s %s: anonymous 401, a non-admin user 403, nothing changed", async (method, path, body) => {
    expect((await settingsApi(a.url, method, path, null, body)).status).toBe(401);
    const res = await settingsApi(a.url, method, path, userAuth(), body);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0].code).toBe("DENIED");
    expect((await settingsOn(a.url)).tokenTtlSeconds.source).toBe("config");
  });
});

describe("bad values are refused with the field named", () => {
  test.each([
    [{ projectCreation: "nobody" }, "projectCreation"],
    [{ defaultVisibility: 1 }, "defaultVisibility"],
    [{ defaultVisibility: "internal" }, "defaultVisibility"],
    [{ tokenTtlSeconds: 5 }, "tokenTtlSeconds"],
    [{ tokenTtlSeconds: 86_401 }, "tokenTtlSeconds"],
    [{ tokenTtlSeconds: "300" }, "tokenTtlSeconds"],
    [{ tokenTtlSeconds: 300.5 }, "tokenTtlSeconds"],
    [{ tokenTtl: 300 }, "tokenTtl"],
    [{ projectCreation: "admins\u0000" }, ""],
    ["[1,2", ""],
    [[], ""],
  ])("%j → 400 naming %s; nothing stored", async (body, field) => {
    const res = await settingsApi(a.url, "PUT", "/settings", ADMIN, body);
    expect(res.status).toBe(400);
    const error = ((await res.json()) as { errors: Array<{ code: string; detail: unknown }> }).errors[0];
    expect(error.code).toBe("INVALID_REQUEST");
    expect(JSON.stringify(error.detail)).toContain(field);
    const now = await settingsOn(a.url);
    expect([now.projectCreation.source, now.defaultVisibility.source, now.tokenTtlSeconds.source]).toEqual(["config", "config", "config"]);
  });
});

describe("each setting's effect, set on one replica and in force on the other", () => {
  test("project creation: admins only refuses a user's push into a new project on both replicas; everyone allows it", async () => {
    const changed = await put(a.url, { projectCreation: "admins" });
    expect(changed.projectCreation).toMatchObject({ value: "admins", source: "ui", default: "everyone", updatedBy: "admin" });
    const refusedOn = async (base: string) => {
      const res = await getToken(base, { creds: user, scopes: [`repository:${uniqueName("denied")}/app:pull,push`] });
      return res.status === 200 && ((await res.json()) as TokenBody).token;
    };
    for (const replica of [a, b]) {
      await waitFor("project creation limited to admins on this replica", async () => {
        const token = await refusedOn(replica.url);
        return token && (jwt.decode(token) as { access: unknown[] }).access.length === 0;
      }, { timeoutMs: 15_000 });
      await expect(pushImageAs(replica.url, `${uniqueName("refused")}/app`, "v1", userAuth())).rejects.toThrow(/401|403/);
    }
    await put(b.url, { projectCreation: "everyone" });
    const project = uniqueName("allowed");
    await waitFor("a user's push creates a project on replica a", () =>
      pushImageAs(a.url, `${project}/app`, "v1", userAuth()).then(() => true),
    { timeoutMs: 15_000 });
    const mine = (await (await settingsApi(a.url, "GET", "/me/projects", userAuth())).json()) as Array<{ name: string; role: string }>;
    expect(mine).toContainEqual(expect.objectContaining({ name: project, role: "admin" }));
  });

  test("default visibility: public applies to projects created by a push and by the API, on the other replica", async () => {
    await put(a.url, { defaultVisibility: "public" });
    const pushed = uniqueName("pub-push");
    await waitFor("default visibility public on replica b", async () => (await settingsOn(b.url)).defaultVisibility.value === "public", { timeoutMs: 15_000 });
    // The pushes go to b: its policy creates the project.
    await waitFor("a push to replica b creates a public project", async () => {
      const name = uniqueName("pub-probe");
      await pushImageAs(b.url, `${name}/app`, "v1", userAuth());
      return (await b.deps.auth.accounts.listProjects()).find((p) => p.name === name)?.public;
    }, { timeoutMs: 15_000 });
    await pushImageAs(b.url, `${pushed}/app`, "v1", userAuth());
    // Anyone may pull from a public project: an anonymous token grants pull.
    const anonymous = (await (await getToken(a.url, { scopes: [`repository:${pushed}/app:pull`] })).json()) as TokenBody;
    expect((await v2(a.url, `/v2/${pushed}/app/manifests/v1`, `Bearer ${anonymous.token}`, { method: "HEAD" })).status).toBe(200);
    const created = await settingsApi(b.url, "POST", "/projects", ADMIN, { name: uniqueName("pub-api") });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { public: boolean }).public).toBe(true);
    // Asked for explicitly, a private project stays private.
    const asked = await settingsApi(b.url, "POST", "/projects", ADMIN, { name: uniqueName("priv-api"), public: false });
    expect(((await asked.json()) as { public: boolean }).public).toBe(false);

    // The CLI follows it too: `berth project add` without --public.
    const cliProject = uniqueName("pub-cli");
    const cli = await runBerth(["project", "add", cliProject], { env: { ...process.env, DATABASE_URL: database.url, BERTH_DATA_DIR: a.dataDir } });
    expect(cli).toMatchObject({ code: 0, stdout: expect.stringContaining(`created public project ${cliProject}`) });

    await put(a.url, { defaultVisibility: null });
    await waitFor("default visibility private again on replica b", async () => (await settingsOn(b.url)).defaultVisibility.source === "config", { timeoutMs: 15_000 });
    const created2 = await settingsApi(b.url, "POST", "/projects", ADMIN, { name: uniqueName("priv-default") });
    expect(((await created2.json()) as { public: boolean }).public).toBe(false);
  });

  test("token lifetime: tokens issued by the other replica carry the new exp - iat and expires_in", async () => {
    await put(a.url, { tokenTtlSeconds: 1234 });
    const scope = `repository:${uniqueName("ttl")}/app:pull`;
    const issued = await waitFor("replica b issues 1234 s tokens", async () => {
      const body = (await (await getToken(b.url, { creds: user, scopes: [scope] })).json()) as TokenBody;
      return body.expires_in === 1234 && body;
    }, { timeoutMs: 15_000 });
    const claims = jwt.decode(issued.token) as { iat: number; exp: number };
    expect(claims.exp - claims.iat).toBe(1234);
    await put(b.url, { tokenTtlSeconds: null });
    const back = await waitFor("replica a issues tokens of the configured lifetime", async () => {
      const body = (await (await getToken(a.url, { creds: user, scopes: [scope] })).json()) as TokenBody;
      return body.expires_in === 300 && body;
    }, { timeoutMs: 15_000 });
    const backClaims = jwt.decode(back.token) as { iat: number; exp: number };
    expect(backClaims.exp - backClaims.iat).toBe(300);
  });

  test("each change is one setting.changed event naming the admin; a reset records the configured value", async () => {
    await put(a.url, { tokenTtlSeconds: 900, projectCreation: "admins" });
    await put(a.url, { tokenTtlSeconds: null, projectCreation: null });
    const events = await waitFor("the settings events in the audit log", async () => {
      const found = (await a.deps.audit.query({ action: "setting.changed", limit: 1000 })).filter((e) => e.actor === "admin");
      const ttl = found.filter((e) => e.reference === "setting auth.tokenTtlSeconds");
      return ttl.some((e) => (e.detail as { reset?: boolean }).reset) && ttl.some((e) => (e.detail as { value: unknown }).value === 900) && found;
    });
    const details = events.filter((e) => e.reference === "setting auth.tokenTtlSeconds").map((e) => e.detail);
    expect(details).toContainEqual({ key: "auth.tokenTtlSeconds", value: 900 });
    expect(details).toContainEqual({ key: "auth.tokenTtlSeconds", value: 300, reset: true });
    expect(events.filter((e) => e.reference === "setting auth.projectCreation").length).toBeGreaterThanOrEqual(2);
  });
});

test("values written by hand in SQL that are not valid are ignored, not trusted", async () => {
  const sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  try {
    // One statement: the valid value showing up on b proves b has read the invalid ones too.
    await sql.query(
      `INSERT INTO setting (key, value, updated_at, updated_by) VALUES
         ('auth.tokenTtlSeconds', '5', now(), 'sql'), ('auth.projectCreation', '"nobody"', now(), 'sql'), ('auth.defaultVisibility', '"public"', now(), 'sql')`,
    );
    await waitFor("replica b reads the stored settings", async () => (await settingsOn(b.url)).defaultVisibility.source === "ui", { timeoutMs: 15_000 });
    const now = await settingsOn(b.url);
    expect(now.tokenTtlSeconds).toMatchObject({ value: 300, source: "config" });
    expect(now.projectCreation).toMatchObject({ value: "everyone", source: "config" });
    const body = (await (await getToken(b.url, { creds: user, scopes: [`repository:${uniqueName("sqlttl")}/app:pull`] })).json()) as TokenBody;
    expect(body.expires_in).toBe(300);
  } finally {
    await sql.query(`DELETE FROM setting WHERE key LIKE 'auth.%'`);
    await sql.end();
  }
});

describe("the effective configuration", () => {
  interface Entry {
    key: string;
    value: unknown;
    secret: boolean;
    source: string;
  }

  async function effective(base: string): Promise<{ text: string; entries: Map<string, Entry> }> {
    const res = await settingsApi(base, "GET", "/settings/effective-config", ADMIN);
    expect(res.status).toBe(200);
    const text = await res.text();
    return { text, entries: new Map(((JSON.parse(text) as { entries: Entry[] }).entries).map((e) => [e.key, e])) };
  }

  test("no configured secret appears anywhere in the answer; secret keys are marked and masked", async () => {
    const { text, entries } = await effective(a.url);
    for (const value of [...Object.values(SECRETS), ADMIN_PASSWORD]) expect(text).not.toContain(value);
    // Percent-encoded or base64 copies would leak just the same.
    for (const value of Object.values(SECRETS)) {
      expect(text).not.toContain(encodeURIComponent(value));
      expect(text).not.toContain(Buffer.from(value).toString("base64"));
    }
    expect(entries.get("storage.s3.secretAccessKey")).toMatchObject({ value: "********", secret: true });
    expect(entries.get("storage.s3.accessKeyId")).toMatchObject({ value: "********", secret: true });
    expect(entries.get("auth.adminPassword")).toMatchObject({ value: "********", secret: true });
    expect(entries.get("metrics.token")).toMatchObject({ value: "********", secret: true });
    expect(entries.get("notifications.endpoints.0.secret")).toMatchObject({ value: "********", secret: true });
    expect(entries.get("notifications.endpoints.0.headers.Authorization")).toMatchObject({ value: "********", secret: true });
    expect(entries.get("notifications.endpoints.0.url")).toMatchObject({ value: "http://127.0.0.1:9/********", secret: true });
    // A URL keeps what helps to recognise it: scheme, user, host and database.
    const db = entries.get("databaseUrl")!;
    expect(db.secret).toBe(true);
    expect(db.value).toBe(`postgresql://postgres:********@${new URL(database.url).host}/${database.name}`);
    expect(entries.get("mirror.httpProxy")?.value).toBe("http://proxyuser:********@127.0.0.1:3128/");
    // Plain values are shown as they are, with where they come from.
    expect(entries.get("auth.enabled")).toMatchObject({ value: true, secret: false, source: "default" });
    expect(entries.get("notifications.endpoints.0.name")).toMatchObject({ value: "hook", secret: false, source: "yaml" });
    expect(entries.get("notifications.endpoints.0.actions")).toMatchObject({ value: ["delete"], source: "yaml" });
    expect(entries.get("auth.loginFailures")).toMatchObject({ value: 5, secret: false, source: "default" });
    expect(entries.get("storage.s3.region")).toMatchObject({ value: null, source: "default" });
  });

  test("a value set in the UI shows as such, with the value in force, until reset", async () => {
    await put(a.url, { tokenTtlSeconds: 777 });
    const onB = await waitFor("replica b shows the UI value", async () => {
      const { entries } = await effective(b.url);
      return entries.get("auth.tokenTtlSeconds")?.source === "ui" && entries;
    }, { timeoutMs: 15_000 });
    expect(onB.get("auth.tokenTtlSeconds")).toMatchObject({ value: 777, source: "ui" });
    await put(a.url, { tokenTtlSeconds: null });
    const { entries } = await effective(a.url);
    expect(entries.get("auth.tokenTtlSeconds")).toMatchObject({ value: 300, source: "default" });
  });
});
