// Token auth over HTTP on Postgres (issue 4): the 401 challenge, the token endpoint (GET and OAuth2 POST),
// the JWT's form, rights = requested ∩ allowed for every role, project creation by push, robots, Basic auth
// on /v2/, the catalog, cross-repository mounts, key rotation and tokens surviving a restart.
import { waitFor } from "../support/wait-for";
import type { TestRegistry } from "../support/registry";
import {
  ADMIN_PASSWORD,
  addUser,
  basic,
  bearer,
  decodeJwt,
  errorCodes,
  getManifestAs,
  getToken,
  outcome,
  parseChallenge,
  postToken,
  pushBlobAs,
  pushImageAs,
  startAuthRegistry,
  tokenFor,
  uniqueName,
  v2,
  type Creds,
  type TokenBody,
} from "../support/auth-helpers";
import { digestOf, randomBytes, type BuiltImage } from "../support/oci-client";

const admin: Creds = { username: "admin", password: ADMIN_PASSWORD };

type Who = "admin" | "projectAdmin" | "maintainer" | "developer" | "guest" | "outsider" | "anonymous";

let registry: TestRegistry;
const url = () => registry.url;
let priv: string; // a private project
let pub: string; // a public project
let privImage: BuiltImage;
let pubImage: BuiltImage;
const users = {} as Record<Exclude<Who, "anonymous" | "admin">, Creds>;

function credsOf(who: Who): Creds | null {
  if (who === "anonymous") return null;
  if (who === "admin") return admin;
  return users[who];
}

const accessOf = (token: string) => decodeJwt(token).payload.access;

beforeAll(async () => {
  registry = await startAuthRegistry();
  const accounts = registry.deps.auth.accounts;
  priv = uniqueName("priv");
  pub = uniqueName("pub");
  await accounts.addProject(priv);
  await accounts.addProject(pub, { public: true });
  for (const [who, role] of [
    ["projectAdmin", "admin"],
    ["maintainer", "maintainer"],
    ["developer", "developer"],
    ["guest", "guest"],
  ] as const) {
    users[who] = await addUser(registry, who.toLowerCase());
    await accounts.setMember(priv, users[who].username, role);
  }
  users.outsider = await addUser(registry, "outsider");
  privImage = await pushImageAs(url(), `${priv}/app`, "v1", basic(admin.username, admin.password));
  pubImage = await pushImageAs(url(), `${pub}/app`, "v1", basic(admin.username, admin.password));
}, 60_000);

afterAll(async () => {
  await registry?.stop();
}, 30_000);

describe("the 401 challenge", () => {
  it("GET /v2/ without credentials → 401 with exactly Bearer realm and service", async () => {
    const res = await fetch(`${url()}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="http://${registry.host}/token",service="berth"`);
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect(await errorCodes(res)).toEqual(["UNAUTHORIZED"]);
  });

  it("names the scope a repository route needs: pull, push or delete", async () => {
    const realm = `http://${registry.host}/token`;
    const pull = await getManifestAs(url(), `${priv}/app`, "v1");
    expect(pull.status).toBe(401);
    expect(pull.headers.get("www-authenticate")).toBe(`Bearer realm="${realm}",service="berth",scope="repository:${priv}/app:pull"`);
    const head = await getManifestAs(url(), `${priv}/app`, "v1", undefined, "HEAD");
    expect(head.status).toBe(401);
    expect(parseChallenge(head.headers.get("www-authenticate")).scope).toBe(`repository:${priv}/app:pull`);
    const push = await fetch(`${url()}/v2/${priv}/app/blobs/uploads/`, { method: "POST" });
    expect(push.status).toBe(401);
    expect(parseChallenge(push.headers.get("www-authenticate")).scope).toMatch(new RegExp(`^repository:${priv}/app:(pull,)?push$`));
    const del = await fetch(`${url()}/v2/${priv}/app/manifests/${privImage.digest}`, { method: "DELETE" });
    expect(del.status).toBe(401);
    expect(parseChallenge(del.headers.get("www-authenticate")).scope).toBe(`repository:${priv}/app:delete`);
    const catalog = await fetch(`${url()}/v2/_catalog`);
    expect(catalog.status).toBe(401);
    expect(parseChallenge(catalog.headers.get("www-authenticate")).scope).toBe("registry:catalog:*");
  });

  it("a token lacking the scope → 401 with error=\"insufficient_scope\"; a bad token → error=\"invalid_token\"", async () => {
    const anonymous = await tokenFor(url(), null);
    expect((await v2(url(), "/v2/", bearer(anonymous))).status).toBe(200);
    const res = await getManifestAs(url(), `${priv}/app`, "v1", bearer(anonymous));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="http://${registry.host}/token",service="berth",scope="repository:${priv}/app:pull",error="insufficient_scope"`,
    );
    const bad = await v2(url(), "/v2/", bearer("not.a.token"));
    expect(bad.status).toBe(401);
    expect(parseChallenge(bad.headers.get("www-authenticate"))).toMatchObject({ scheme: "Bearer", error: "invalid_token", service: "berth" });
  });
});

describe("GET /token", () => {
  it("answers an anonymous request with {token, access_token, expires_in, issued_at} and no refresh token", async () => {
    const res = await getToken(url(), { scopes: [`repository:${pub}/app:pull`] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as TokenBody;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "issued_at", "token"]);
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    expect(Math.abs(Date.parse(body.issued_at) - Date.now())).toBeLessThan(10_000);
    expect(decodeJwt(body.token).payload).toMatchObject({ sub: "", access: [{ type: "repository", name: `${pub}/app`, actions: ["pull"] }] });
  });

  it("issues an ES256 JWT with kid and iss, sub, aud, exp, nbf, iat, jti and access", async () => {
    const res = await getToken(url(), { creds: users.developer, scopes: [`repository:${priv}/app:pull`] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    const { header, payload } = decodeJwt(body.token);
    expect(header.alg).toBe("ES256");
    expect(typeof header.kid).toBe("string");
    expect(header.kid).toBe(registry.deps.auth.token!.keys.signingKey().kid);
    expect(payload).toMatchObject({ iss: "berth", sub: users.developer.username, aud: "berth" });
    for (const claim of ["exp", "nbf", "iat"]) expect(Number.isInteger(payload[claim])).toBe(true);
    expect((payload.exp as number) - (payload.iat as number)).toBe(body.expires_in);
    expect(payload.nbf as number).toBeLessThanOrEqual(payload.iat as number);
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(10);
    expect(typeof payload.jti).toBe("string");
    expect(payload.access).toEqual([{ type: "repository", name: `${priv}/app`, actions: ["pull"] }]);
  });

  it("with offline_token=true and credentials also returns a refresh token", async () => {
    const res = await getToken(url(), { creds: users.developer, offline: true, scopes: [`repository:${priv}/app:pull`] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(typeof body.refresh_token).toBe("string");
    expect(body.refresh_token).not.toBe(body.token);
    expect(decodeJwt(body.refresh_token!).payload).toMatchObject({ sub: users.developer.username });
  });

  it("refuses wrong credentials with 401", async () => {
    const res = await getToken(url(), { creds: { username: users.developer.username, password: "wrong-password" }, scopes: [`repository:${priv}/app:pull`] });
    expect(res.status).toBe(401);
    expect(await errorCodes(res)).toContain("UNAUTHORIZED");
    const unknown = await getToken(url(), { creds: { username: "nobody-at-all", password: "whatever-pw" } });
    expect(unknown.status).toBe(401);
  });

  it("refuses more than 50 scopes in one request with 400 INVALID_REQUEST, before checking the password", async () => {
    const scopes = (n: number) => Array.from({ length: n }, (_, i) => `repository:${priv}/app${i}:pull`);
    const creds = { username: users.developer.username, password: users.developer.password };
    expect((await getToken(url(), { creds, scopes: scopes(50) })).status).toBe(200);
    const many = await getToken(url(), { creds, scopes: scopes(330) });
    expect(many.status).toBe(400);
    expect(await errorCodes(many)).toEqual(["INVALID_REQUEST"]);
    // Packed into one parameter, space-separated, they count the same; a wrong password changes nothing.
    const packed = await getToken(url(), { creds: { ...creds, password: "wrong-password" }, scopes: [scopes(51).join(" ")] });
    expect(packed.status).toBe(400);
    const posted = await postToken(url(), { grant_type: "password", ...creds, service: "berth", scope: scopes(51).join(" ") });
    expect(posted.status).toBe(400);
    expect(await errorCodes(posted)).toEqual(["INVALID_REQUEST"]);
  });

  it("grants requested ∩ rights, never more: anonymous asking push on a public project gets pull only", async () => {
    expect(accessOf(await tokenFor(url(), null, `repository:${pub}/app:pull,push,delete`))).toEqual([
      { type: "repository", name: `${pub}/app`, actions: ["pull"] },
    ]);
    expect(accessOf(await tokenFor(url(), null, `repository:${priv}/app:pull`))).toEqual([]);
    // Several scopes in one parameter, repeated parameters, unknown and plugin-class scopes.
    const token = await tokenFor(
      url(),
      users.developer,
      `repository:${priv}/app:pull repository:${pub}/app:push,pull`,
      `repository:${priv}/app:push,delete`,
      `repository(plugin):${priv}/plug:pull`,
      "bogus:x:pull",
      "registry:catalog:*",
    );
    expect(accessOf(token)).toEqual([
      { type: "repository", name: `${priv}/app`, actions: ["pull", "push"] },
      { type: "repository", name: `${pub}/app`, actions: ["pull"] },
      { type: "repository", name: `${priv}/plug`, actions: ["pull"] },
    ]);
  });
});

describe("POST /token (OAuth2)", () => {
  it("grant_type=password returns access and refresh tokens", async () => {
    const res = await postToken(url(), {
      grant_type: "password",
      username: users.developer.username,
      password: users.developer.password,
      service: "berth",
      client_id: "docker",
      access_type: "offline",
      scope: `repository:${priv}/app:pull,push`,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(body.access_token).toBeTruthy();
    expect(body.refresh_token).toBeTruthy();
    expect(accessOf(body.access_token)).toEqual([{ type: "repository", name: `${priv}/app`, actions: ["pull", "push"] }]);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(body.access_token))).status).toBe(200);
  });

  it("grant_type=password with a wrong password → 401", async () => {
    const res = await postToken(url(), { grant_type: "password", username: users.guest.username, password: "nope-nope-nope", service: "berth", client_id: "t" });
    expect(res.status).toBe(401);
  });

  it("grant_type=refresh_token works, with the account's current rights", async () => {
    const login = await postToken(url(), { grant_type: "password", username: users.guest.username, password: users.guest.password, service: "berth", client_id: "t", access_type: "offline" });
    const refresh = ((await login.json()) as TokenBody).refresh_token!;
    const res = await postToken(url(), { grant_type: "refresh_token", refresh_token: refresh, service: "berth", client_id: "t", scope: `repository:${priv}/app:pull,push` });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(accessOf(body.access_token)).toEqual([{ type: "repository", name: `${priv}/app`, actions: ["pull"] }]);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(body.access_token))).status).toBe(200);
  });

  it("keeps access and refresh tokens apart", async () => {
    const res = await getToken(url(), { creds: users.guest, offline: true, scopes: [`repository:${priv}/app:pull`] });
    const body = (await res.json()) as TokenBody;
    const asRefresh = await postToken(url(), { grant_type: "refresh_token", refresh_token: body.token, service: "berth", client_id: "t" });
    expect(asRefresh.status).toBe(401);
    const asAccess = await getManifestAs(url(), `${priv}/app`, "v1", bearer(body.refresh_token!));
    expect(asAccess.status).toBe(401);
    expect(parseChallenge(asAccess.headers.get("www-authenticate")).error).toBe("invalid_token");
  });

  it("refuses the refresh token of a disabled or deleted account", async () => {
    const accounts = registry.deps.auth.accounts;
    for (const change of ["disable", "delete"] as const) {
      const user = await addUser(registry, `gone-${change}`);
      const res = await getToken(url(), { creds: user, offline: true });
      const refresh = ((await res.json()) as TokenBody).refresh_token!;
      expect((await postToken(url(), { grant_type: "refresh_token", refresh_token: refresh, service: "berth", client_id: "t" })).status).toBe(200);
      if (change === "disable") await accounts.updateUser(user.username, { disabled: true });
      else await accounts.removeUser(user.username);
      const after = await postToken(url(), { grant_type: "refresh_token", refresh_token: refresh, service: "berth", client_id: "t" });
      expect({ change, status: after.status }).toEqual({ change, status: 401 });
    }
  });

  it("refuses an unknown grant type and missing fields with 400", async () => {
    expect((await postToken(url(), { grant_type: "client_credentials" })).status).toBe(400);
    expect((await postToken(url(), { grant_type: "password", username: "x" })).status).toBe(400);
    expect((await postToken(url(), { grant_type: "refresh_token" })).status).toBe(400);
  });
});

describe("rights by role", () => {
  const expected: Record<Who, string[]> = {
    admin: ["pull", "push", "delete"],
    projectAdmin: ["pull", "push", "delete"],
    maintainer: ["pull", "push", "delete"],
    developer: ["pull", "push"],
    guest: ["pull"],
    outsider: [],
    anonymous: [],
  };

  it.each(Object.keys(expected) as Who[])("%s on a private project: the token and the registry agree", async (who) => {
    const repo = `${priv}/app`;
    const rights = expected[who];
    // A blob only the admin put there, for this role to try to delete.
    const victim = randomBytes(64);
    expect((await pushBlobAs(url(), repo, victim, basic(admin.username, admin.password))).status).toBe(201);

    const token = await tokenFor(url(), credsOf(who), `repository:${repo}:pull,push,delete`);
    expect(accessOf(token)).toEqual(rights.length ? [{ type: "repository", name: repo, actions: rights }] : []);
    const auth = bearer(token);
    const refusal = who === "anonymous" ? { status: 401, codes: ["UNAUTHORIZED"] } : { status: 403, codes: ["DENIED"] };

    const pull = await getManifestAs(url(), repo, "v1", auth);
    expect(await outcome(pull)).toEqual(rights.includes("pull") ? { status: 200, codes: [] } : refusal);
    const push = await pushBlobAs(url(), repo, randomBytes(64), auth);
    expect(await outcome(push)).toEqual(rights.includes("push") ? { status: 201, codes: [] } : refusal);
    const del = await v2(url(), `/v2/${repo}/blobs/${digestOf(victim)}`, auth, { method: "DELETE" });
    expect(await outcome(del)).toEqual(rights.includes("delete") ? { status: 202, codes: [] } : refusal);
  });

  it("public project: anyone pulls, anonymous push/delete → 401, a non-member's push → 403", async () => {
    const repo = `${pub}/app`;
    const anon = bearer(await tokenFor(url(), null, `repository:${repo}:pull,push,delete`));
    expect((await getManifestAs(url(), repo, "v1", anon)).status).toBe(200);
    expect((await v2(url(), `/v2/${repo}/blobs/${pubImage.config.descriptor.digest}`, anon)).status).toBe(200);
    expect((await v2(url(), `/v2/${repo}/tags/list`, anon)).status).toBe(200);
    const anonPush = await pushBlobAs(url(), repo, randomBytes(32), anon);
    expect(await outcome(anonPush)).toEqual({ status: 401, codes: ["UNAUTHORIZED"] });
    const anonDelete = await v2(url(), `/v2/${repo}/manifests/${pubImage.digest}`, anon, { method: "DELETE" });
    expect(anonDelete.status).toBe(401);

    const outsider = bearer(await tokenFor(url(), users.outsider, `repository:${repo}:pull,push,delete`));
    expect((await getManifestAs(url(), repo, "v1", outsider)).status).toBe(200);
    expect(await outcome(await pushBlobAs(url(), repo, randomBytes(32), outsider))).toEqual({ status: 403, codes: ["DENIED"] });
    expect(await outcome(await v2(url(), `/v2/${repo}/manifests/${pubImage.digest}`, outsider, { method: "DELETE" }))).toEqual({ status: 403, codes: ["DENIED"] });
    // Still there.
    expect((await getManifestAs(url(), repo, pubImage.digest, anon)).status).toBe(200);
  });

  it("a member's rights follow a role change on the next token", async () => {
    const user = await addUser(registry, "promoted");
    await registry.deps.auth.accounts.setMember(priv, user.username, "guest");
    expect(accessOf(await tokenFor(url(), user, `repository:${priv}/app:pull,push`))).toEqual([{ type: "repository", name: `${priv}/app`, actions: ["pull"] }]);
    await registry.deps.auth.accounts.setMember(priv, user.username, "developer");
    expect(accessOf(await tokenFor(url(), user, `repository:${priv}/app:pull,push`))).toEqual([{ type: "repository", name: `${priv}/app`, actions: ["pull", "push"] }]);
  });
});

describe("projects created by push", () => {
  it("a user's push to a new project creates it private and owned by the pusher; others cannot pull", async () => {
    const alice = await addUser(registry, "alice");
    const bob = await addUser(registry, "bob");
    const project = uniqueName("fresh");
    const repo = `${project}/app`;
    const token = await tokenFor(url(), alice, `repository:${repo}:pull,push`);
    expect(accessOf(token)).toEqual([{ type: "repository", name: repo, actions: ["pull", "push"] }]);
    await pushImageAs(url(), repo, "v1", bearer(token));

    const created = (await registry.deps.auth.accounts.listProjects()).find((p) => p.name === project);
    expect(created).toMatchObject({ name: project, public: false });
    expect(await registry.deps.auth.accounts.roleOf(project, alice.username)).toBe("admin");
    expect(await registry.deps.auth.accounts.roleOf(project, bob.username)).toBeNull();

    const bobToken = await tokenFor(url(), bob, `repository:${repo}:pull,push`);
    expect(accessOf(bobToken)).toEqual([]);
    expect(await outcome(await getManifestAs(url(), repo, "v1", bearer(bobToken)))).toEqual({ status: 403, codes: ["DENIED"] });
    expect(await outcome(await getManifestAs(url(), repo, "v1", basic(bob.username, bob.password)))).toEqual({ status: 403, codes: ["DENIED"] });
    expect((await getManifestAs(url(), repo, "v1", bearer(await tokenFor(url(), null, `repository:${repo}:pull`)))).status).toBe(401);
    expect((await getManifestAs(url(), repo, "v1", basic(alice.username, alice.password))).status).toBe(200);
  });

  it("with auth.projectCreation=admins a normal user's push to a new project is refused; an admin's works", async () => {
    const strict = await startAuthRegistry({ auth: { projectCreation: "admins" } });
    try {
      const user = await addUser(strict, "plain");
      const repo = `${uniqueName("noproj")}/app`;
      const token = await tokenFor(strict.url, user, `repository:${repo}:pull,push`);
      expect(accessOf(token)).toEqual([]);
      expect(await outcome(await pushBlobAs(strict.url, repo, randomBytes(16), bearer(token)))).toEqual({ status: 403, codes: ["DENIED"] });
      expect(await outcome(await pushBlobAs(strict.url, repo, randomBytes(16), basic(user.username, user.password)))).toEqual({ status: 403, codes: ["DENIED"] });
      expect((await strict.deps.auth.accounts.listProjects()).map((p) => p.name)).not.toContain(repo.split("/")[0]);
      const adminToken = await tokenFor(strict.url, admin, `repository:${repo}:pull,push`);
      expect((await pushBlobAs(strict.url, repo, randomBytes(16), bearer(adminToken))).status).toBe(201);
    } finally {
      await strict.stop();
    }
  });
});

describe("robot accounts", () => {
  async function robot(permissions: Array<{ project: string; actions: Array<"pull" | "push" | "delete"> }>, expiresAt: Date | null = null): Promise<Creds> {
    const { robot: view, secret } = await registry.deps.auth.accounts.addRobot({ name: uniqueName("bot"), permissions, expiresAt });
    return { username: view.name, password: secret };
  }

  it("pull-only robot pulls but cannot push", async () => {
    const bot = await robot([{ project: priv, actions: ["pull"] }]);
    expect(bot.username).toMatch(/^robot\$/);
    const token = await tokenFor(url(), bot, `repository:${priv}/app:pull,push`);
    expect(accessOf(token)).toEqual([{ type: "repository", name: `${priv}/app`, actions: ["pull"] }]);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(token))).status).toBe(200);
    expect(await outcome(await pushBlobAs(url(), `${priv}/app`, randomBytes(16), bearer(token)))).toEqual({ status: 403, codes: ["DENIED"] });
    expect((await getManifestAs(url(), `${priv}/app`, "v1", basic(bot.username, bot.password))).status).toBe(200);
    // Nothing outside its project.
    expect(accessOf(await tokenFor(url(), bot, `repository:${users.outsider.username}-proj/app:pull`))).toEqual([]);
  });

  it("pull,push robot pushes an image into its project, but cannot create projects", async () => {
    const bot = await robot([{ project: priv, actions: ["pull", "push"] }]);
    const token = await tokenFor(url(), bot, `repository:${priv}/ci-built:pull,push`);
    await pushImageAs(url(), `${priv}/ci-built`, "v1", bearer(token));
    const newRepo = `${uniqueName("botproj")}/x`;
    expect(accessOf(await tokenFor(url(), bot, `repository:${newRepo}:pull,push`))).toEqual([]);
    expect(await outcome(await pushBlobAs(url(), newRepo, randomBytes(16), basic(bot.username, bot.password)))).toEqual({ status: 403, codes: ["DENIED"] });
  });

  it("a robot is refused once it expires, with the tokens it got before", async () => {
    const expiresAt = new Date(Date.now() + 2_000);
    const bot = await robot([{ project: priv, actions: ["pull"] }], expiresAt);
    const token = await tokenFor(url(), bot, `repository:${priv}/app:pull`);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(token))).status).toBe(200);
    // Polled with the token, not the secret: failed logins count towards the login throttle.
    await waitFor("the robot's token refused", async () => (await getManifestAs(url(), `${priv}/app`, "v1", bearer(token))).status === 401, { timeoutMs: 15_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.getTime());
    expect((await getToken(url(), { creds: bot, scopes: [`repository:${priv}/app:pull`] })).status).toBe(401);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", basic(bot.username, bot.password))).status).toBe(401);
  });

  it("a wrong robot secret is refused; the secret is never listed", async () => {
    const bot = await robot([{ project: priv, actions: ["pull"] }]);
    expect((await getToken(url(), { creds: { username: bot.username, password: `${bot.password}x` } })).status).toBe(401);
    expect(JSON.stringify(await registry.deps.auth.accounts.listRobots())).not.toContain(bot.password);
  });
});

describe("Basic auth directly on /v2/", () => {
  it("accepts correct credentials, refuses wrong ones with the Bearer challenge", async () => {
    const dev = basic(users.developer.username, users.developer.password);
    expect((await v2(url(), "/v2/", dev)).status).toBe(200);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", dev)).status).toBe(200);
    const wrong = await getManifestAs(url(), `${priv}/app`, "v1", basic(users.developer.username, "not-the-password"));
    expect(wrong.status).toBe(401);
    expect(parseChallenge(wrong.headers.get("www-authenticate"))).toMatchObject({ scheme: "Bearer", realm: `http://${registry.host}/token`, service: "berth" });
  });

  it("an authenticated user lacking the right → 403 DENIED", async () => {
    const outsider = basic(users.outsider.username, users.outsider.password);
    expect(await outcome(await getManifestAs(url(), `${priv}/app`, "v1", outsider))).toEqual({ status: 403, codes: ["DENIED"] });
    const guest = basic(users.guest.username, users.guest.password);
    expect(await outcome(await pushBlobAs(url(), `${priv}/app`, randomBytes(8), guest))).toEqual({ status: 403, codes: ["DENIED"] });
  });
});

describe("the catalog", () => {
  it("needs registry:catalog:*, which only admins get", async () => {
    const adminToken = await tokenFor(url(), admin, "registry:catalog:*");
    expect(accessOf(adminToken)).toEqual([{ type: "registry", name: "catalog", actions: ["*"] }]);
    const res = await v2(url(), "/v2/_catalog", bearer(adminToken));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { repositories: string[] }).repositories).toEqual(expect.arrayContaining([`${priv}/app`, `${pub}/app`]));

    const devToken = await tokenFor(url(), users.projectAdmin, "registry:catalog:*");
    expect(accessOf(devToken)).toEqual([]);
    expect(await outcome(await v2(url(), "/v2/_catalog", bearer(devToken)))).toEqual({ status: 403, codes: ["DENIED"] });
    expect(await outcome(await v2(url(), "/v2/_catalog", basic(users.developer.username, users.developer.password)))).toEqual({ status: 403, codes: ["DENIED"] });
    const anon = await tokenFor(url(), null, "registry:catalog:*");
    expect(accessOf(anon)).toEqual([]);
    expect((await v2(url(), "/v2/_catalog", bearer(anon))).status).toBe(401);
    expect((await v2(url(), "/v2/_catalog", basic(admin.username, admin.password))).status).toBe(200);
  });
});

describe("cross-repository mount", () => {
  it("mounts only when the token includes pull on `from`; otherwise a 202 upload session and no leak", async () => {
    const owner = await addUser(registry, "mounter");
    const mine = uniqueName("mine");
    const other = uniqueName("other");
    await registry.deps.auth.accounts.addProject(mine, { owner: owner.username });
    await registry.deps.auth.accounts.addProject(other, { owner: owner.username });
    const secretProject = uniqueName("secret");
    await registry.deps.auth.accounts.addProject(secretProject);

    const blob = randomBytes(128);
    const digest = digestOf(blob);
    expect((await pushBlobAs(url(), `${mine}/src`, blob, basic(owner.username, owner.password))).status).toBe(201);
    const secretBlob = randomBytes(128);
    expect((await pushBlobAs(url(), `${secretProject}/hidden`, secretBlob, basic(admin.username, admin.password))).status).toBe(201);

    const mount = (dest: string, from: string, d: string, auth: string) =>
      v2(url(), `/v2/${dest}/blobs/uploads/?mount=${encodeURIComponent(d)}&from=${encodeURIComponent(from)}`, auth, { method: "POST" });

    // Push on the destination only: no mount, an upload session instead.
    const pushOnly = bearer(await tokenFor(url(), owner, `repository:${other}/dst:pull,push`));
    const fallback = await mount(`${other}/dst`, `${mine}/src`, digest, pushOnly);
    expect(fallback.status).toBe(202);
    expect(fallback.headers.get("location")).toMatch(new RegExp(`^(http://[^/]+)?/v2/${other}/dst/blobs/uploads/`));
    expect((await v2(url(), `/v2/${other}/dst/blobs/${digest}`, pushOnly, { method: "HEAD" })).status).toBe(404);

    // With pull on the source too: mounted.
    const both = bearer(await tokenFor(url(), owner, `repository:${other}/dst:pull,push`, `repository:${mine}/src:pull`));
    const mounted = await mount(`${other}/dst`, `${mine}/src`, digest, both);
    expect(mounted.status).toBe(201);
    expect((await v2(url(), `/v2/${other}/dst/blobs/${digest}`, both, { method: "HEAD" })).status).toBe(200);

    // From a private project the user cannot read: asking for pull there grants nothing, and nothing leaks.
    const greedy = bearer(await tokenFor(url(), owner, `repository:${other}/dst:pull,push`, `repository:${secretProject}/hidden:pull`));
    expect(accessOf(greedy.slice(7))).toEqual([{ type: "repository", name: `${other}/dst`, actions: ["pull", "push"] }]);
    const refused = await mount(`${other}/dst`, `${secretProject}/hidden`, digestOf(secretBlob), greedy);
    expect(refused.status).toBe(202);
    expect((await v2(url(), `/v2/${other}/dst/blobs/${digestOf(secretBlob)}`, greedy, { method: "HEAD" })).status).toBe(404);
    // Same with Basic credentials.
    const viaBasic = await mount(`${other}/dst`, `${secretProject}/hidden`, digestOf(secretBlob), basic(owner.username, owner.password));
    expect(viaBasic.status).toBe(202);
    expect((await v2(url(), `/v2/${other}/dst/blobs/${digestOf(secretBlob)}`, basic(owner.username, owner.password), { method: "HEAD" })).status).toBe(404);
    // Basic credentials with pull on the source: mounted.
    const blob2 = randomBytes(64);
    expect((await pushBlobAs(url(), `${mine}/src`, blob2, basic(owner.username, owner.password))).status).toBe(201);
    expect((await mount(`${other}/dst2`, `${mine}/src`, digestOf(blob2), basic(owner.username, owner.password))).status).toBe(201);
  });
});

describe("signing keys", () => {
  it("rotation keeps old tokens valid and signs new ones with the new kid", async () => {
    const keys = registry.deps.auth.token!.keys;
    const before = await tokenFor(url(), users.guest, `repository:${priv}/app:pull`);
    const oldKid = decodeJwt(before).header.kid;
    const newKid = await keys.rotate(3600);
    expect(newKid).not.toBe(oldKid);
    const after = await tokenFor(url(), users.guest, `repository:${priv}/app:pull`);
    expect(decodeJwt(after).header.kid).toBe(newKid);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(before))).status).toBe(200);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(after))).status).toBe(200);
  });

  it("tokens (access and refresh) survive a restart; the new process signs with the same key", async () => {
    const res = await getToken(url(), { creds: users.guest, offline: true, scopes: [`repository:${priv}/app:pull`] });
    const body = (await res.json()) as TokenBody;
    const kid = decodeJwt(body.token).header.kid;
    await registry.restart();
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(body.token))).status).toBe(200);
    const refreshed = await postToken(url(), { grant_type: "refresh_token", refresh_token: body.refresh_token!, service: "berth", client_id: "t", scope: `repository:${priv}/app:pull` });
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(((await refreshed.json()) as TokenBody).access_token).header.kid).toBe(kid);
    // The admin was not bootstrapped again (its password is unchanged) and there is still one admin.
    expect((await getToken(url(), { creds: admin })).status).toBe(200);
    expect((await registry.deps.auth.accounts.listUsers()).filter((u) => u.isAdmin).map((u) => u.username)).toEqual(["admin"]);
  });
});
