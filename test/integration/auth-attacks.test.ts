// Attacks on token auth (issue 4), over HTTP against Berth on Postgres: forged and doctored tokens, scope
// confusion, brute force on /token, path tricks in names, credentials in logs, stale rights.
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { TestRegistry } from "../support/registry";
import {
  ADMIN_PASSWORD,
  addUser,
  b64url,
  basic,
  bearer,
  claims,
  decodeJwt,
  es256Jwt,
  getManifestAs,
  getToken,
  hs256Jwt,
  memoryLogger,
  outcome,
  parseChallenge,
  postToken,
  pushBlobAs,
  pushImageAs,
  startAuthRegistry,
  tokenFor,
  uniqueName,
  unsignedJwt,
  v2,
  type Creds,
  type TokenBody,
} from "../support/auth-helpers";
import { digestOf, expectRawOciError, randomBytes, rawRequest, type BuiltImage } from "../support/oci-client";
import { waitFor } from "../support/wait-for";
import { Authenticator } from "../../src/auth/authenticator";
import { LoginThrottle } from "../../src/auth/login-throttle";
import type { DomainError } from "../../src/kernel/errors";

const admin: Creds = { username: "admin", password: ADMIN_PASSWORD };
const LOGIN_FAILURES = 3;

let registry: TestRegistry;
const url = () => registry.url;
let priv: string;
let pub: string;
let privImage: BuiltImage;
let member: Creds; // developer of priv
let guest: Creds; // guest of priv

function signingKey(): { kid: string; privateKey: KeyObject } {
  return registry.deps.auth.token!.keys.signingKey();
}

/** Claims for `sub` with pull,push,delete on the private repository and the catalog. */
function greedyClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return claims({
    sub: "admin",
    access: [
      { type: "repository", name: `${priv}/app`, actions: ["pull", "push", "delete"] },
      { type: "registry", name: "catalog", actions: ["*"] },
    ],
    ...overrides,
  });
}

/** Asserts the token is refused as invalid: 401 with error="invalid_token", nothing served. */
async function expectInvalidToken(token: string): Promise<void> {
  const res = await getManifestAs(url(), `${priv}/app`, "v1", bearer(token));
  const challenge = parseChallenge(res.headers.get("www-authenticate"));
  expect({ status: res.status, error: challenge.error }).toEqual({ status: 401, error: "invalid_token" });
  const catalog = await v2(url(), "/v2/_catalog", bearer(token));
  expect(catalog.status).toBe(401);
}

beforeAll(async () => {
  registry = await startAuthRegistry({ auth: { loginFailures: LOGIN_FAILURES, loginWindowSeconds: 60 } });
  const accounts = registry.deps.auth.accounts;
  priv = uniqueName("priv");
  pub = uniqueName("pub");
  await accounts.addProject(priv);
  await accounts.addProject(pub, { public: true });
  member = await addUser(registry, "member");
  guest = await addUser(registry, "guest");
  await accounts.setMember(priv, member.username, "developer");
  await accounts.setMember(priv, guest.username, "guest");
  privImage = await pushImageAs(url(), `${priv}/app`, "v1", basic(admin.username, admin.password));
  await pushImageAs(url(), `${pub}/app`, "v1", basic(admin.username, admin.password));
}, 60_000);

afterAll(async () => {
  await registry?.stop();
}, 30_000);

describe("forged and doctored tokens", () => {
  it("control: a token signed with Berth's key and correct claims is accepted (so the refusals below are meaningful)", async () => {
    const { kid, privateKey } = signingKey();
    const token = es256Jwt(privateKey, kid, greedyClaims());
    expect((await getManifestAs(url(), `${priv}/app`, "v1", bearer(token))).status).toBe(200);
  });

  it("refuses a tampered payload (wider access, another subject)", async () => {
    const real = await tokenFor(url(), guest, `repository:${priv}/app:pull`);
    const [h, , s] = real.split(".");
    const payload = decodeJwt(real).payload;
    await expectInvalidToken(`${h}.${b64url({ ...payload, access: greedyClaims().access })}.${s}`);
    await expectInvalidToken(`${h}.${b64url({ ...payload, sub: "admin" })}.${s}`);
    // Push on a pull-only token by editing the claim: refused, and nothing was written.
    const widened = `${h}.${b64url({ ...payload, access: [{ type: "repository", name: `${priv}/app`, actions: ["pull", "push"] }] })}.${s}`;
    const blob = randomBytes(32);
    expect((await pushBlobAs(url(), `${priv}/app`, blob, bearer(widened))).status).toBe(401);
    expect((await v2(url(), `/v2/${priv}/app/blobs/${digestOf(blob)}`, basic(admin.username, admin.password), { method: "HEAD" })).status).toBe(404);
  });

  it("refuses a tampered or missing signature", async () => {
    const real = await tokenFor(url(), member, `repository:${priv}/app:pull`);
    const [h, p, s] = real.split(".");
    const sig = Buffer.from(s, "base64url");
    sig[sig.length - 1] ^= 0x01;
    await expectInvalidToken(`${h}.${p}.${sig.toString("base64url")}`);
    await expectInvalidToken(`${h}.${p}.`);
    await expectInvalidToken(`${h}.${p}`);
    // The signature of another valid token.
    const other = (await tokenFor(url(), member, `repository:${priv}/other:pull`)).split(".")[2];
    await expectInvalidToken(`${h}.${p}.${other}`);
  });

  it("refuses alg: none", async () => {
    const { kid } = signingKey();
    for (const alg of ["none", "None", "NONE"]) {
      await expectInvalidToken(unsignedJwt(greedyClaims(), { alg, typ: "JWT", kid }));
    }
  });

  it("refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)", async () => {
    const { kid, privateKey } = signingKey();
    const pub = createPublicKey(privateKey);
    const pem = pub.export({ type: "spki", format: "pem" }).toString();
    // Also the exact text stored in the database, in case it differs in whitespace.
    const [row] = await registry.deps.database.query<{ public_key: string }>(`SELECT public_key FROM signing_key WHERE kid = $1`, [kid]);
    for (const secret of [pem, pem.trim(), row.public_key, pub.export({ type: "spki", format: "der" })]) {
      for (const alg of ["HS256", "HS384", "HS512"]) {
        await expectInvalidToken(hs256Jwt({ alg, typ: "JWT", kid }, greedyClaims(), secret));
      }
    }
  });

  it("refuses RS256/ES384 headers over our kid and a key embedded in the header", async () => {
    const { kid } = signingKey();
    const attacker = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = attacker.publicKey.export({ format: "jwk" });
    const forged = es256Jwt(attacker.privateKey, kid, greedyClaims());
    await expectInvalidToken(forged);
    const [, p, s] = forged.split(".");
    await expectInvalidToken(`${b64url({ alg: "ES256", typ: "JWT", kid, jwk })}.${p}.${s}`);
    await expectInvalidToken(`${b64url({ alg: "RS256", typ: "JWT", kid })}.${p}.${s}`);
    await expectInvalidToken(`${b64url({ alg: "ES384", typ: "JWT", kid })}.${p}.${s}`);
  });

  it("refuses an expired token, and a not-yet-valid one beyond the clock skew", async () => {
    const { kid, privateKey } = signingKey();
    const now = Math.floor(Date.now() / 1000);
    await expectInvalidToken(es256Jwt(privateKey, kid, greedyClaims({ iat: now - 900, nbf: now - 900, exp: now - 120 })));
    await expectInvalidToken(es256Jwt(privateKey, kid, greedyClaims({ iat: now + 600, nbf: now + 600, exp: now + 900 })));
    await expectInvalidToken(es256Jwt(privateKey, kid, greedyClaims({ nbf: now + 120 })));
  });

  it("refuses a token without exp (the token spec makes exp required; such a token would never expire)", async () => {
    const { kid, privateKey } = signingKey();
    const noExp = greedyClaims();
    delete noExp.exp;
    await expectInvalidToken(es256Jwt(privateKey, kid, noExp));
  });

  it("refuses a wrong audience and a wrong issuer", async () => {
    const { kid, privateKey } = signingKey();
    await expectInvalidToken(es256Jwt(privateKey, kid, greedyClaims({ aud: "another-registry" })));
    await expectInvalidToken(es256Jwt(privateKey, kid, greedyClaims({ aud: ["another-registry"] })));
    await expectInvalidToken(es256Jwt(privateKey, kid, greedyClaims({ iss: "evil-issuer" })));
    const noAud = greedyClaims();
    delete noAud.aud;
    await expectInvalidToken(es256Jwt(privateKey, kid, noAud));
    const noIss = greedyClaims();
    delete noIss.iss;
    await expectInvalidToken(es256Jwt(privateKey, kid, noIss));
  });

  it("refuses an unknown kid, an attacker's key, and odd kid values", async () => {
    const attacker = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    for (const kid of ["AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL", "../../../etc/passwd", "' OR '1'='1", ""]) {
      await expectInvalidToken(es256Jwt(attacker, kid, greedyClaims()));
    }
    await expectInvalidToken(es256Jwt(attacker, "x", greedyClaims()).replace(/^[^.]+/, b64url({ alg: "ES256", typ: "JWT" })));
  });

  it("refuses a refresh token used as an access token", async () => {
    const res = await getToken(url(), { creds: member, offline: true, scopes: [`repository:${priv}/app:pull`] });
    const { refresh_token } = (await res.json()) as TokenBody;
    await expectInvalidToken(refresh_token!);
  });
});

describe("scope confusion", () => {
  it("a token for repository A does not open repository B", async () => {
    const other = uniqueName("other");
    await registry.deps.auth.accounts.addProject(other);
    await pushImageAs(url(), `${other}/app`, "v1", basic(admin.username, admin.password));
    const token = bearer(await tokenFor(url(), member, `repository:${priv}/app:pull,push`));
    // B in a project the member cannot read: 403.
    expect(await outcome(await getManifestAs(url(), `${other}/app`, "v1", token))).toEqual({ status: 403, codes: ["DENIED"] });
    // B in the member's own project, but not in the token: sent back for another token.
    const res = await getManifestAs(url(), `${priv}/app-b`, "v1", token);
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get("www-authenticate"))).toMatchObject({ error: "insufficient_scope", scope: `repository:${priv}/app-b:pull` });
    // Prefix and nested names are other repositories.
    expect((await getManifestAs(url(), `${priv}/app/sub`, "v1", token)).status).toBe(401);
    expect((await getManifestAs(url(), priv, "v1", token)).status).toBe(401);
    // Blobs of A through B's path: no.
    expect((await v2(url(), `/v2/${other}/app/blobs/${privImage.config.descriptor.digest}`, token)).status).toBe(403);
  });

  it("push with a pull-only token is refused and writes nothing", async () => {
    const pullOnly = bearer(await tokenFor(url(), member, `repository:${priv}/app:pull`));
    const blob = randomBytes(64);
    const res = await pushBlobAs(url(), `${priv}/app`, blob, pullOnly);
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get("www-authenticate")).error).toBe("insufficient_scope");
    const put = await v2(url(), `/v2/${priv}/app/manifests/evil`, pullOnly, {
      method: "PUT",
      headers: { "Content-Type": privImage.mediaType },
      body: privImage.bytes,
    });
    expect(put.status).toBe(401);
    // The member (a developer) can never delete: 403 rather than a new token.
    const del = await v2(url(), `/v2/${priv}/app/manifests/${privImage.digest}`, pullOnly, { method: "DELETE" });
    expect(await outcome(del)).toEqual({ status: 403, codes: ["DENIED"] });
    // A guest's token can never get push: 403.
    const guestToken = bearer(await tokenFor(url(), guest, `repository:${priv}/app:pull,push`));
    expect(await outcome(await pushBlobAs(url(), `${priv}/app`, blob, guestToken))).toEqual({ status: 403, codes: ["DENIED"] });
    // Upload session steps need push as well.
    const session = await v2(url(), `/v2/${priv}/app/blobs/uploads/`, basic(member.username, member.password), { method: "POST" });
    expect(session.status).toBe(202);
    const location = new URL(session.headers.get("location")!, url());
    const patch = await fetch(location, { method: "PATCH", headers: { Authorization: guestToken, "Content-Type": "application/octet-stream" }, body: blob });
    expect(patch.status).toBe(403);
    const admin = basic("admin", ADMIN_PASSWORD);
    expect((await v2(url(), `/v2/${priv}/app/blobs/${digestOf(blob)}`, admin, { method: "HEAD" })).status).toBe(404);
    expect((await getManifestAs(url(), `${priv}/app`, "evil", admin)).status).toBe(404);
  });

  it("a push token for a project that did not exist yet does not open it after someone else created it", async () => {
    const alice = await addUser(registry, "alice");
    const mallory = await addUser(registry, "mallory");
    const project = uniqueName("race");
    const repo = `${project}/app`;
    // Mallory asks first, while the project does not exist: she may create projects, so she may get push.
    const early = bearer(await tokenFor(url(), mallory, `repository:${repo}:pull,push`));
    // Then Alice asks and pushes. Either the project became Mallory's when she was granted push (then
    // Alice's push is refused), or Alice's push creates it as hers (then Mallory's early token must be useless).
    const aliceToken = bearer(await tokenFor(url(), alice, `repository:${repo}:pull,push`));
    let image: BuiltImage | null = null;
    try {
      image = await pushImageAs(url(), repo, "v1", aliceToken);
    } catch (err) {
      if (!/: 40[13] /.test(String(err))) throw err;
    }
    const roles = {
      alice: await registry.deps.auth.accounts.roleOf(project, alice.username),
      mallory: await registry.deps.auth.accounts.roleOf(project, mallory.username),
    };
    if (!image) {
      // Alice was refused: the project is Mallory's, and none of Alice's data went into it.
      expect(roles).toEqual({ alice: null, mallory: "admin" });
      return;
    }
    expect(roles).toEqual({ alice: "admin", mallory: null });
    const refused = (status: number) => (status === 401 || status === 403 ? "refused" : status);
    const outcomes = {
      pullManifest: refused((await getManifestAs(url(), repo, "v1", early)).status),
      pullBlob: refused((await v2(url(), `/v2/${repo}/blobs/${image.layers[0].descriptor.digest}`, early)).status),
      pushBlob: refused((await pushBlobAs(url(), repo, randomBytes(48), early)).status),
      overwriteTag: refused((await v2(url(), `/v2/${repo}/manifests/v1`, early, { method: "PUT", headers: { "Content-Type": image.mediaType }, body: image.bytes })).status),
    };
    expect(outcomes).toEqual({ pullManifest: "refused", pullBlob: "refused", pushBlob: "refused", overwriteTag: "refused" });
  });
});

describe("revocation", () => {
  it("disabling a user stops Basic auth at once, even right after a successful request", async () => {
    const user = await addUser(registry, "revoked");
    await registry.deps.auth.accounts.setMember(priv, user.username, "developer");
    const auth = basic(user.username, user.password);
    expect((await getManifestAs(url(), `${priv}/app`, "v1", auth)).status).toBe(200);
    await registry.deps.auth.accounts.updateUser(user.username, { disabled: true });
    expect((await getManifestAs(url(), `${priv}/app`, "v1", auth)).status).toBe(401);
    expect((await getToken(url(), { creds: user })).status).toBe(401);
  });

  it("a changed password stops the old one at once", async () => {
    const user = await addUser(registry, "rotated");
    expect((await getToken(url(), { creds: user })).status).toBe(200);
    await registry.deps.auth.accounts.updateUser(user.username, { password: "the-new-password" });
    expect((await getToken(url(), { creds: user })).status).toBe(401);
    expect((await getToken(url(), { creds: { username: user.username, password: "the-new-password" } })).status).toBe(200);
  });
});

describe("brute force on /token", () => {
  it(`after ${LOGIN_FAILURES} failures → 429 TOOMANYREQUESTS with Retry-After, the right password refused too; other accounts unaffected`, async () => {
    const victim = await addUser(registry, "victim");
    const bystander = await addUser(registry, "bystander");
    for (let i = 0; i < LOGIN_FAILURES; i++) {
      const res = await getToken(url(), { creds: { username: victim.username, password: `guess-${i}-wrong` } });
      expect(res.status).toBe(401);
    }
    const throttled = await getToken(url(), { creds: { username: victim.username, password: "guess-x-wrong" } });
    expect(await outcome(throttled.clone())).toEqual({ status: 429, codes: ["TOOMANYREQUESTS"] });
    const retryAfter = Number(throttled.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // The right password while throttled: refused the same way, on every way in.
    const right = await getToken(url(), { creds: victim });
    expect(right.status).toBe(429);
    expect(right.headers.get("retry-after")).toBeTruthy();
    const form = await postToken(url(), { grant_type: "password", username: victim.username, password: victim.password, service: "berth", client_id: "t" });
    expect(form.status).toBe(429);
    expect(form.headers.get("retry-after")).toBeTruthy();
    const direct = await v2(url(), "/v2/", basic(victim.username, victim.password));
    expect(direct.status).toBe(429);
    expect(direct.headers.get("retry-after")).toBeTruthy();

    // Someone else logs in fine.
    expect((await getToken(url(), { creds: bystander })).status).toBe(200);
  });

  it("counts failures on the POST form and on Basic /v2/ as well", async () => {
    const victim = await addUser(registry, "victim2");
    await postToken(url(), { grant_type: "password", username: victim.username, password: "nope-1-wrong", service: "berth", client_id: "t" });
    await v2(url(), "/v2/", basic(victim.username, "nope-2-wrong"));
    await getToken(url(), { creds: { username: victim.username, password: "nope-3-wrong" } });
    expect((await getToken(url(), { creds: victim })).status).toBe(429);
  });

  it("parallel guesses do not slip past the limit", async () => {
    const victim = await addUser(registry, "victim3");
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => getToken(url(), { creds: { username: victim.username, password: `parallel-guess-${i}` } })),
    );
    const statuses = guesses.map((r) => r.status);
    // At most LOGIN_FAILURES passwords may actually be tried; the rest must be turned away with 429.
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(LOGIN_FAILURES);
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
  });

  it("a flood of failed logins under made-up names does not evict the lockout on a real account", async () => {
    // Berth's own authenticator over the real account store, with the throttle's table cap made small
    // enough to overflow here (it is 100,000 in Berth).
    const throttle = new LoginThrottle(LOGIN_FAILURES, 60_000, Date.now, 4);
    const authenticator = new Authenticator(registry.deps.stores.accounts, throttle, registry.deps.events);
    const victim = await addUser(registry, "flooded");
    const attempt = (username: string, password: string) =>
      authenticator.login(username, password, "203.0.113.9").then(
        () => "ok",
        (err: DomainError) => err.code,
      );
    for (let i = 0; i < LOGIN_FAILURES; i++) expect(await attempt(victim.username, `guess-${i}`)).toBe("Unauthorized");
    expect(await attempt(victim.username, victim.password)).toBe("TooManyRequests");
    for (let i = 0; i < 12; i++) expect(await attempt(uniqueName("nobody"), "flood")).toBe("Unauthorized");
    expect(await attempt(victim.username, victim.password)).toBe("TooManyRequests");
  });
});

describe("path tricks in repository names", () => {
  const admin = () => basic("admin", ADMIN_PASSWORD);

  it.each([
    ["a/../b", (p: string, q: string) => `/v2/${p}/../${q}/manifests/v1`],
    ["%2e%2e", (p: string, q: string) => `/v2/${p}/%2e%2e/${q}/manifests/v1`],
    ["%2E%2E", (p: string, q: string) => `/v2/${p}/%2E%2E/${q}/manifests/v1`],
    ["./", (p: string, q: string) => `/v2/${p}/./${q}/manifests/v1`],
    ["encoded slash", (_p: string, q: string) => `/v2/${q.replace("/", "%2F")}/manifests/v1`],
    ["encoded slash (lower)", (_p: string, q: string) => `/v2/${q.replace("/", "%2f")}/manifests/v1`],
    ["double slash", (_p: string, q: string) => `/v2/${q.replace("/", "//")}/manifests/v1`],
    ["backslash", (_p: string, q: string) => `/v2/${q.replace("/", "%5C")}/manifests/v1`],
  ])("%s → 400 NAME_INVALID, never the private manifest", async (_label, make) => {
    const path = make(`${pub}/app`, `${priv}/app`);
    // Anonymous with a token for the public repository, and with the admin's credentials: both get 400.
    const anonToken = bearer(await tokenFor(url(), null, `repository:${pub}/app:pull`));
    for (const auth of [undefined, anonToken, admin()]) {
      const res = await rawRequest(url(), "GET", path, { headers: auth ? { Authorization: auth } : {} });
      expectRawOciError(res, 400, "NAME_INVALID");
    }
    const push = await rawRequest(url(), "POST", path.replace(/\/manifests\/v1$/, "/blobs/uploads/"), { headers: { Authorization: anonToken } });
    expectRawOciError(push, 400, "NAME_INVALID");
  });

  it("a token issued for a dotted name grants nothing on the name it might resolve to", async () => {
    // projectOf("<pub>/../<priv>/app") is the public project, so the token endpoint may grant pull on that
    // literal name; it must be useless on every route.
    const tricky = `${pub}/../${priv}/app`;
    const token = bearer(await tokenFor(url(), null, `repository:${tricky}:pull`));
    expectRawOciError(await rawRequest(url(), "GET", `/v2/${tricky}/manifests/v1`, { headers: { Authorization: token } }), 400, "NAME_INVALID");
    expectRawOciError(await rawRequest(url(), "GET", `/v2/${tricky}/tags/list`, { headers: { Authorization: token } }), 400, "NAME_INVALID");
    expect((await getManifestAs(url(), `${priv}/app`, "v1", token)).status).toBe(401);
    // A mount naming a dotted source: no blob crosses over.
    const digest = privImage.layers[0].descriptor.digest;
    const outsider = await addUser(registry, "outsider");
    const own = `${uniqueName("own")}/app`;
    const outsiderToken = bearer(await tokenFor(url(), outsider, `repository:${own}:pull,push`, `repository:${tricky}:pull`));
    const res = await rawRequest(url(), "POST", `/v2/${own}/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(tricky)}`, { headers: { Authorization: outsiderToken } });
    expect([202, 400]).toContain(res.status);
    expect((await v2(url(), `/v2/${own}/blobs/${digest}`, outsiderToken, { method: "HEAD" })).status).toBe(404);
  });
});

describe("forwarded headers from an untrusted peer", () => {
  it("X-Forwarded-Proto: https from a client that is no trusted proxy does not make the session cookie Secure", async () => {
    // No trustedProxies here: the test client is just a client, and its word on the scheme counts for nothing.
    const res = await fetch(`${url()}/api/v1/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Forwarded-Proto": "https" },
      body: JSON.stringify({ username: member.username, password: member.password }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(/^berth_session=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  });
});

describe("credentials in logs", () => {
  it("never logs passwords, robot secrets or tokens, at debug level", async () => {
    const sink = memoryLogger("debug");
    const logged = await startAuthRegistry({ logger: sink.logger, config: { logLevel: "debug" } });
    try {
      const user = await addUser(logged, "logged");
      const wrong = "Wr0ng-Passw0rd-Sentinel";
      const { secret } = await logged.deps.auth.accounts.addRobot({ name: uniqueName("logbot"), permissions: [{ project: "p", actions: ["pull"] }] });
      const robotName = (await logged.deps.auth.accounts.listRobots())[0].name;
      // Admin API: creating a user and a robot through HTTP (passwords and secrets in bodies).
      const apiUser = { username: uniqueName("apiuser"), password: "Api-User-Password-Sentinel" };
      const created = await fetch(`${logged.url}/api/v1/users`, {
        method: "POST",
        headers: { Authorization: basic("admin", ADMIN_PASSWORD), "Content-Type": "application/json" },
        body: JSON.stringify(apiUser),
      });
      expect(created.status).toBe(201);
      const robotRes = await fetch(`${logged.url}/api/v1/robots`, {
        method: "POST",
        headers: { Authorization: basic("admin", ADMIN_PASSWORD), "Content-Type": "application/json" },
        body: JSON.stringify({ name: uniqueName("apibot"), permissions: [{ project: "p", actions: ["pull"] }] }),
      });
      const apiSecret = ((await robotRes.json()) as { secret: string }).secret;

      await getToken(logged.url, { creds: { username: user.username, password: wrong } });
      const ok = await getToken(logged.url, { creds: user, offline: true, scopes: ["repository:p/x:pull"] });
      const body = (await ok.json()) as TokenBody;
      await postToken(logged.url, { grant_type: "password", username: user.username, password: wrong, service: "berth", client_id: "t" });
      await postToken(logged.url, { grant_type: "password", username: user.username, password: user.password, service: "berth", client_id: "t" });
      await postToken(logged.url, { grant_type: "refresh_token", refresh_token: body.refresh_token!, service: "berth", client_id: "t" });
      await v2(logged.url, "/v2/", basic(user.username, wrong));
      await v2(logged.url, "/v2/", basic(user.username, user.password));
      await v2(logged.url, "/v2/", bearer(body.token));
      await v2(logged.url, "/v2/", basic(robotName, secret));
      await getToken(logged.url, { creds: { username: apiUser.username, password: apiUser.password } });
      await fetch(`${logged.url}/api/v1/me`, { headers: { Authorization: basic(user.username, wrong) } });
      // The request log is written as each response closes, which may come after the client has it.
      await waitFor("the last request's log line", () => sink.text().includes('"url":"/api/v1/me"'));

      const text = sink.text();
      expect(text).toMatch(/"url":"\/token/); // the log works and saw the logins
      for (const sensitive of [
        ADMIN_PASSWORD,
        user.password,
        wrong,
        secret,
        apiSecret,
        apiUser.password,
        body.token,
        body.refresh_token!,
        Buffer.from(`${user.username}:${user.password}`).toString("base64"),
        Buffer.from(`${user.username}:${wrong}`).toString("base64"),
        Buffer.from(`admin:${ADMIN_PASSWORD}`).toString("base64"),
      ]) {
        expect({ sensitive: sensitive.slice(0, 12), found: text.includes(sensitive) }).toEqual({ sensitive: sensitive.slice(0, 12), found: false });
      }
      // No request headers in the log (an "authorization" field would carry Basic credentials or a token).
      expect(text).not.toMatch(/"authorization"\s*:/i);
    } finally {
      await logged.stop();
    }
  });
});
