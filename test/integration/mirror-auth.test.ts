// Mirror mode and token auth, on both sides of the mirror.
//
// Upstream side: the upstream is a second Berth with token auth on and a private project. A mirror given a
// user with pull rights follows the upstream's 401 challenge to its /token endpoint and pulls byte-identical
// content; a mirror without credentials, with wrong ones or with an account lacking rights answers a clean
// error and caches nothing.
//
// Mirror side: Berth in mirror mode with its own auth on. Anonymous clients may pull mirrored content
// (mirror.anonymousPull, default true) while a local private project stays private, and mirrored prefixed
// names cannot be pushed to. Nor may anybody but an administrator push over names the default (docker.io)
// upstream serves, or under a prefix whose deny list excludes the name: either would let one client replace
// what every other client of the mirror pulls.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { requestLog } from "../support/request-log";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { bodyBytes, buildImage, buildIndex, digestOf, expectOciError, MediaTypes, sha256, uniqueSuffix, type BuiltImage, type BuiltManifest } from "../support/oci-client";

const ADMIN_PASSWORD = "admin-Pa55word-for-mirror-tests";
const ACCEPT = [MediaTypes.OCI_MANIFEST, MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST].join(", ");

interface Creds {
  username: string;
  password: string;
}

function basic({ username, password }: Creds): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

const admin: Creds = { username: "admin", password: ADMIN_PASSWORD };

/** Pushes blobs (monolithic POST) and the manifest to a Berth with auth on, authenticating with Basic. */
async function pushAs(base: string, creds: Creds, repo: string, manifest: BuiltManifest, ref: string, blobs: Buffer[] = []): Promise<void> {
  for (const data of blobs) {
    const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digestOf(data))}`, {
      method: "POST",
      headers: { Authorization: basic(creds), "Content-Type": "application/octet-stream" },
      body: data,
    });
    if (res.status !== 201) throw new Error(`blob push to ${repo}: ${res.status} ${await res.text()}`);
  }
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    headers: { Authorization: basic(creds), "Content-Type": manifest.mediaType },
    body: manifest.bytes,
  });
  if (res.status !== 201) throw new Error(`manifest push to ${repo}:${ref}: ${res.status} ${await res.text()}`);
}

function pushImageAs(base: string, creds: Creds, repo: string, image: BuiltImage, ref: string): Promise<void> {
  return pushAs(base, creds, repo, image, ref, [image.config.data, ...image.layers.map((l) => l.data)]);
}

/**
 * A GET the way docker and containerd do it: try; on 401 follow the Bearer challenge to the realm (with Basic
 * credentials or anonymously) and retry once with the token. Returns the final response and the token.
 */
async function getWithChallenge(url: string, options: { creds?: Creds; accept?: string } = {}): Promise<{ res: Response; token: string | null }> {
  const headers: Record<string, string> = options.accept ? { Accept: options.accept } : {};
  const first = await fetch(url, { headers });
  if (first.status !== 401) return { res: first, token: null };
  await first.arrayBuffer();
  const challenge = first.headers.get("www-authenticate") ?? "";
  expect(challenge).toMatch(/^Bearer /);
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const tokenUrl = new URL(params.realm);
  tokenUrl.searchParams.set("service", params.service);
  if (params.scope) tokenUrl.searchParams.set("scope", params.scope);
  const tokenRes = await fetch(tokenUrl, { headers: options.creds ? { Authorization: basic(options.creds) } : {} });
  expect(tokenRes.status).toBe(200);
  const { token } = (await tokenRes.json()) as { token: string };
  const res = await fetch(url, { headers: { ...headers, Authorization: `Bearer ${token}` } });
  return { res, token };
}

function accessOf(token: string): Array<{ type: string; name: string; actions: string[] }> {
  const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")) as { access?: Array<{ type: string; name: string; actions: string[] }> };
  return payload.access ?? [];
}

/** Names of blob files in a registry's filesystem storage. */
async function storedBlobs(registry: TestRegistry): Promise<string[]> {
  const root = path.join(registry.dataDir, "storage/blobs/sha256");
  const prefixes = await readdir(root).catch(() => [] as string[]);
  const out: string[] = [];
  for (const p of prefixes) out.push(...(await readdir(path.join(root, p)).catch(() => [] as string[])).map((hex) => `sha256:${hex}`));
  return out;
}

async function catalog(base: string, authorization?: string): Promise<string[]> {
  const res = await fetch(`${base}/v2/_catalog?n=1000`, { headers: authorization ? { Authorization: authorization } : {} });
  expect(res.status).toBe(200);
  return ((await res.json()) as { repositories: string[] }).repositories;
}

describe("mirror of an upstream Berth with token auth on", () => {
  let upstream: TestRegistry;
  let upstreamLog: string[];
  let mirror: TestRegistry;
  let puller: Creds;
  let outsider: Creds;
  /** In the private project "vendor": pulled through the credentialled upstream. */
  const app = buildImage({ format: "docker", layers: 3, layerSize: 150_000 });
  /** Also in "vendor": only ever asked for through upstreams that must fail. */
  const secret = buildImage({ layers: 2, layerSize: 120_000 });

  beforeAll(async () => {
    const log = requestLog();
    upstreamLog = log.lines;
    upstream = await startTestRegistry({ logger: log.logger, config: { auth: { enabled: true, adminPassword: ADMIN_PASSWORD } } });
    const accounts = upstream.deps.auth.accounts;
    puller = { username: "puller", password: "puller-Pa55word" };
    outsider = { username: "outsider", password: "outsider-Pa55word" };
    await accounts.addUser(puller.username, puller.password);
    await accounts.addUser(outsider.username, outsider.password);
    await accounts.addProject("vendor", { public: false });
    await accounts.setMember("vendor", puller.username, "guest");
    await pushImageAs(upstream.url, admin, "vendor/app", app, "1.0");
    await pushImageAs(upstream.url, admin, "vendor/secret", secret, "1.0");

    const url = upstream.url;
    mirror = await startTestRegistry({
      config: {
        mirror: {
          upstreams: [
            { name: "hub", url, prefix: "", registry: "docker.io", username: puller.username, password: puller.password, timeoutSeconds: 10 },
            { name: "anonymous", url, prefix: "anon.example", timeoutSeconds: 10 },
            { name: "wrong", url, prefix: "wrong.example", username: puller.username, password: "not-the-password", timeoutSeconds: 10 },
            { name: "outsider", url, prefix: "outsider.example", username: outsider.username, password: outsider.password, timeoutSeconds: 10 },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await mirror?.stop();
    await upstream?.stop();
  });

  it("has a private upstream: anonymous clients get 401 there, the puller gets the image", async () => {
    // The premise of this file, checked directly against the upstream.
    const anonymous = await getWithChallenge(`${upstream.url}/v2/vendor/app/manifests/1.0`, { accept: ACCEPT });
    await expectOciError(anonymous.res, 401, "UNAUTHORIZED");
    const authorised = await getWithChallenge(`${upstream.url}/v2/vendor/app/manifests/1.0`, { accept: ACCEPT, creds: puller });
    expect(authorised.res.status).toBe(200);
    expect(await bodyBytes(authorised.res)).toEqual(app.bytes);
  });

  it.each([
    ["without credentials", "anon.example"],
    ["with a wrong password", "wrong.example"],
    ["as an account without rights on the project", "outsider.example"],
  ])("answers a clean error %s, and caches nothing", async (_label, prefix) => {
    const name = `${prefix}/vendor/secret`;
    const before = upstreamLog.length;

    const manifest = await fetch(`${mirror.url}/v2/${name}/manifests/1.0`, { headers: { Accept: ACCEPT } });
    // Not 200, not "does not exist" (404 would hide the misconfiguration), not a crash (500): the upstream
    // refused us, so the mirror cannot serve it; the message says so.
    const body = await expectOciError(manifest, 503, "UNAVAILABLE");
    const detail = JSON.stringify(body.errors[0].detail ?? "");
    expect(detail).toMatch(/upstream/i);
    expect(detail).toMatch(/\b40[13]\b|credentials|token/i);
    const blob = await fetch(`${mirror.url}/v2/${name}/blobs/${secret.layers[0].descriptor.digest}`);
    await expectOciError(blob, 503, "UNAVAILABLE");

    // The upstream was really asked (the 401 challenge, then its token endpoint)…
    const asked = upstreamLog.slice(before);
    expect(asked).toContainEqual(expect.stringMatching(/^GET \/v2\/vendor\/secret\/manifests\/1\.0 401$/));
    expect(asked).toContainEqual(expect.stringMatching(/^GET \/token\?.*scope=repository%3Avendor%2Fsecret%3Apull/));
    // …and nothing of it stuck: no repository, no blob file, and the next request asks the upstream again.
    expect(await catalog(mirror.url)).not.toContain(name);
    const stored = await storedBlobs(mirror);
    for (const d of [secret.config, ...secret.layers].map((b) => b.descriptor.digest)) expect(stored).not.toContain(d);
    const again = upstreamLog.length;
    await expectOciError(await fetch(`${mirror.url}/v2/${name}/manifests/1.0`, { headers: { Accept: ACCEPT } }), 503, "UNAVAILABLE");
    expect(upstreamLog.slice(again)).toContainEqual(expect.stringMatching(/^GET \/v2\/vendor\/secret\/manifests\/1\.0 /));
  });

  it("follows the 401 challenge to /token with its credentials and pulls byte-identical content", async () => {
    const before = upstreamLog.length;
    const res = await fetch(`${mirror.url}/v2/vendor/app/manifests/1.0`, { headers: { Accept: ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(app.digest);
    expect(res.headers.get("content-type")).toBe(MediaTypes.DOCKER_MANIFEST);
    expect(await bodyBytes(res)).toEqual(app.bytes);
    for (const blob of [app.config, ...app.layers]) {
      const b = await fetch(`${mirror.url}/v2/vendor/app/blobs/${blob.descriptor.digest}`);
      expect(b.status).toBe(200);
      expect(await bodyBytes(b)).toEqual(blob.data);
    }

    const seen = upstreamLog.slice(before);
    // Challenge first, then one token for the repository's pull scope, then the manifest and the 4 blobs.
    expect(seen[0]).toMatch(/^GET \/v2\/vendor\/app\/manifests\/1\.0 401$/);
    expect(seen[1]).toMatch(/^GET \/token\?.*scope=repository%3Avendor%2Fapp%3Apull.* 200$/);
    expect(seen[2]).toMatch(/^GET \/v2\/vendor\/app\/manifests\/1\.0 200$/);
    expect(seen.filter((l) => l.startsWith("GET /token"))).toHaveLength(1);
    expect(seen.filter((l) => /^GET \/v2\/vendor\/app\/blobs\/sha256:[0-9a-f]{64} 200$/.test(l))).toHaveLength(4);
    expect(seen.filter((l) => / 40[13]$/.test(l))).toHaveLength(1);

    // Warm: served from the cache without a word to the upstream (the tag is within its TTL).
    const warm = upstreamLog.length;
    expect(await bodyBytes(await fetch(`${mirror.url}/v2/vendor/app/manifests/1.0`, { headers: { Accept: ACCEPT } }))).toEqual(app.bytes);
    for (const blob of [app.config, ...app.layers]) {
      expect(sha256(await bodyBytes(await fetch(`${mirror.url}/v2/vendor/app/blobs/${blob.descriptor.digest}`)))).toBe(blob.descriptor.digest);
    }
    expect(upstreamLog.slice(warm)).toEqual([]);
  });

  it("after failed attempts, the same digests still come through a route that is allowed to fetch them", async () => {
    // The refused fetches of vendor/secret's blobs (above) must not have left a lease or a half-written
    // blob behind that blocks or corrupts a later, authorised fetch of the same digests.
    const res = await fetch(`${mirror.url}/v2/vendor/secret/manifests/1.0`, { headers: { Accept: ACCEPT } });
    expect(res.status).toBe(200);
    expect(await bodyBytes(res)).toEqual(secret.bytes);
    for (const blob of [secret.config, ...secret.layers]) {
      expect(await bodyBytes(await fetch(`${mirror.url}/v2/vendor/secret/blobs/${blob.descriptor.digest}`))).toEqual(blob.data);
    }
  });
});

describe("mirror mode with auth on at the mirror", () => {
  let upstream: TestRegistry;
  let upstreamLog: string[];
  let mirror: TestRegistry;
  let developer: Creds;
  const hubImage = buildImage({ layers: 2, layerSize: 50_000 });
  const ghImage = buildImage({ layers: 1, layerSize: 50_000 });
  const localImage = buildImage({ layers: 1, layerSize: 4_000 });

  beforeAll(async () => {
    // The upstream: an open Berth (auth is the mirror's business in this block).
    const log = requestLog();
    upstreamLog = log.lines;
    upstream = await startTestRegistry({ logger: log.logger });
    await pushAs(upstream.url, admin, "library/tool", hubImage, "1", [hubImage.config.data, ...hubImage.layers.map((l) => l.data)]);
    await pushAs(upstream.url, admin, "owner/gh-tool", ghImage, "1", [ghImage.config.data, ...ghImage.layers.map((l) => l.data)]);

    mirror = await startTestRegistry({
      config: {
        auth: { enabled: true, adminPassword: ADMIN_PASSWORD },
        mirror: {
          upstreams: [
            { name: "hub", url: upstream.url, prefix: "", registry: "docker.io", timeoutSeconds: 10 },
            { name: "ghcr", url: upstream.url, prefix: "ghcr.io", registry: "ghcr.io", timeoutSeconds: 10 },
          ],
        },
      },
    });
    const accounts = mirror.deps.auth.accounts;
    developer = { username: "dev", password: "dev-Pa55word-here" };
    await accounts.addUser(developer.username, developer.password);
    await accounts.addProject("team", { public: false });
    await accounts.setMember("team", developer.username, "developer");
    await pushImageAs(mirror.url, admin, "team/app", localImage, "v1");
  });

  afterAll(async () => {
    await mirror?.stop();
    await upstream?.stop();
  });

  it("lets anonymous clients pull mirrored content, default and prefixed upstreams alike", async () => {
    for (const [name, image] of [
      ["library/tool", hubImage],
      ["ghcr.io/owner/gh-tool", ghImage],
    ] as const) {
      const { res, token } = await getWithChallenge(`${mirror.url}/v2/${name}/manifests/1`, { accept: ACCEPT });
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      expect(await bodyBytes(res)).toEqual(image.bytes);
      // The anonymous token carries pull, and only pull.
      expect(accessOf(token!)).toEqual([{ type: "repository", name, actions: ["pull"] }]);
      for (const blob of [image.config, ...image.layers]) {
        const b = await fetch(`${mirror.url}/v2/${name}/blobs/${blob.descriptor.digest}`, { headers: { Authorization: `Bearer ${token}` } });
        expect(b.status).toBe(200);
        expect(await bodyBytes(b)).toEqual(blob.data);
      }
    }
  });

  it("keeps a local private project private: 401 for anonymous clients, and the upstream is never asked", async () => {
    const before = upstreamLog.length;
    for (const ref of ["v1", localImage.digest]) {
      const { res, token } = await getWithChallenge(`${mirror.url}/v2/team/app/manifests/${ref}`, { accept: ACCEPT });
      await expectOciError(res, 401, "UNAUTHORIZED");
      expect(accessOf(token!)).toEqual([]);
    }
    const blob = await getWithChallenge(`${mirror.url}/v2/team/app/blobs/${localImage.layers[0].descriptor.digest}`);
    await expectOciError(blob.res, 401, "UNAUTHORIZED");
    // Nor does a name inside the local project that does not exist locally leak to the upstream.
    await expectOciError((await getWithChallenge(`${mirror.url}/v2/team/unknown/manifests/v1`, { accept: ACCEPT })).res, 401, "UNAUTHORIZED");
    expect(upstreamLog.slice(before)).toEqual([]);

    // Its member still pulls it, and can push to it: local projects keep working next to the mirror.
    const member = await getWithChallenge(`${mirror.url}/v2/team/app/manifests/v1`, { accept: ACCEPT, creds: developer });
    expect(member.res.status).toBe(200);
    expect(await bodyBytes(member.res)).toEqual(localImage.bytes);
    const next = buildImage({ layers: 1, layerSize: 1_000 });
    await pushImageAs(mirror.url, developer, "team/app", next, "v2");
    expect(upstreamLog.slice(before)).toEqual([]);
  });

  it("refuses pushes to mirrored prefixed names, even from an administrator", async () => {
    const image = buildImage({ layers: 1, layerSize: 1_000 });
    const name = `ghcr.io/owner/poison-${uniqueSuffix()}`;
    const put = (creds?: Creds) =>
      fetch(`${mirror.url}/v2/${name}/manifests/1`, {
        method: "PUT",
        headers: { "Content-Type": image.mediaType, ...(creds ? { Authorization: basic(creds) } : {}) },
        body: image.bytes,
      });
    await expectOciError(await put(), 401, "UNAUTHORIZED");
    await expectOciError(await put(developer), 403, "DENIED");
    await expectOciError(await put(admin), 403, "DENIED");
    // Over an existing mirrored tag too: the cached ghcr.io/owner/gh-tool:1 must stay the upstream's.
    const overwrite = await fetch(`${mirror.url}/v2/ghcr.io/owner/gh-tool/manifests/1`, {
      method: "PUT",
      headers: { "Content-Type": image.mediaType, Authorization: basic(admin) },
      body: image.bytes,
    });
    await expectOciError(overwrite, 403, "DENIED");
    // Starting a blob upload there is refused for non-admins.
    const upload = await fetch(`${mirror.url}/v2/${name}/blobs/uploads/`, { method: "POST", headers: { Authorization: basic(developer) } });
    await expectOciError(upload, 403, "DENIED");

    const { res } = await getWithChallenge(`${mirror.url}/v2/ghcr.io/owner/gh-tool/manifests/1`, { accept: ACCEPT });
    expect(res.headers.get("docker-content-digest")).toBe(ghImage.digest);
    expect(await bodyBytes(res)).toEqual(ghImage.bytes);
    expect(await catalog(mirror.url, basic(admin))).not.toContain(name);
  });

  it("keeps an index byte-for-byte for anonymous clients", async () => {
    const amd = buildImage({ layers: 1, layerSize: 2_000 });
    const arm = buildImage({ layers: 1, layerSize: 2_000 });
    const index = buildIndex([amd, arm]);
    for (const img of [amd, arm]) await pushImageAs(upstream.url, admin, "library/multi-arch", img, img.digest);
    await pushAs(upstream.url, admin, "library/multi-arch", index, "latest");
    const { res, token } = await getWithChallenge(`${mirror.url}/v2/library/multi-arch/manifests/latest`, { accept: ACCEPT });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(MediaTypes.OCI_INDEX);
    expect(await bodyBytes(res)).toEqual(index.bytes);
    const child = await fetch(`${mirror.url}/v2/library/multi-arch/manifests/${arm.digest}`, { headers: { Accept: ACCEPT, Authorization: `Bearer ${token}` } });
    expect(await bodyBytes(child)).toEqual(arm.bytes);
  });
});

describe("mirror mode with auth on and anonymousPull off", () => {
  it("makes anonymous clients authenticate for mirrored content, while users still pull it", async () => {
    const upstream = await startTestRegistry();
    const image = buildImage({ layers: 1, layerSize: 2_000 });
    await pushImageAs(upstream.url, admin, "library/closed", image, "1");
    const mirror = await startTestRegistry({
      config: {
        auth: { enabled: true, adminPassword: ADMIN_PASSWORD },
        mirror: { anonymousPull: false, upstreams: [{ name: "hub", url: upstream.url, prefix: "", timeoutSeconds: 10 }] },
      },
    });
    try {
      const anonymous = await getWithChallenge(`${mirror.url}/v2/library/closed/manifests/1`, { accept: ACCEPT });
      await expectOciError(anonymous.res, 401, "UNAUTHORIZED");
      // A user without any membership pulls mirrored content through the mirror.
      const reader: Creds = { username: "reader", password: "reader-Pa55word" };
      await mirror.deps.auth.accounts.addUser(reader.username, reader.password);
      const viaUser = await getWithChallenge(`${mirror.url}/v2/library/closed/manifests/1`, { accept: ACCEPT, creds: reader });
      expect(viaUser.res.status).toBe(200);
      expect(await bodyBytes(viaUser.res)).toEqual(image.bytes);
    } finally {
      await mirror.stop();
      await upstream.stop();
    }
  });
});

describe("mirror mode with auth on and an upstream with credentials", () => {
  it("keeps anonymous clients out by default (the upstream's private images are not everyone's); an explicit true lets them in", async () => {
    const upstream = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: ADMIN_PASSWORD } } });
    const image = buildImage({ layers: 1, layerSize: 2_000 });
    await pushImageAs(upstream.url, admin, "vendor/private", image, "1");
    const hub = { name: "hub", url: upstream.url, prefix: "", username: admin.username, password: admin.password, timeoutSeconds: 10 };
    const closed = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: ADMIN_PASSWORD }, mirror: { upstreams: [hub] } } });
    const open = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: ADMIN_PASSWORD }, mirror: { anonymousPull: true, upstreams: [hub] } } });
    try {
      expect(closed.deps.config.mirror.anonymousPull).toBe(false);
      const anonymous = await getWithChallenge(`${closed.url}/v2/vendor/private/manifests/1`, { accept: ACCEPT });
      await expectOciError(anonymous.res, 401, "UNAUTHORIZED");
      const viaAdmin = await getWithChallenge(`${closed.url}/v2/vendor/private/manifests/1`, { accept: ACCEPT, creds: admin });
      expect(viaAdmin.res.status).toBe(200);
      const openly = await getWithChallenge(`${open.url}/v2/vendor/private/manifests/1`, { accept: ACCEPT });
      expect(openly.res.status).toBe(200);
      expect(await bodyBytes(openly.res)).toEqual(image.bytes);
    } finally {
      await open.stop();
      await closed.stop();
      await upstream.stop();
    }
  });
});

describe("pushes to names the default upstream serves", () => {
  let upstream: TestRegistry;
  let open: TestRegistry;
  let closed: TestRegistry;
  const original = buildImage({ layers: 1, layerSize: 3_000 });
  const other = buildImage({ layers: 1, layerSize: 3_000 });

  beforeAll(async () => {
    upstream = await startTestRegistry();
    await pushImageAs(upstream.url, admin, "library/base", original, "1");
    await pushImageAs(upstream.url, admin, "library/other", other, "1");
    const upstreams = [{ name: "hub", url: upstream.url, prefix: "", registry: "docker.io", timeoutSeconds: 10 }];
    open = await startTestRegistry({ config: { mirror: { upstreams } } });
    closed = await startTestRegistry({
      config: { auth: { enabled: true, adminPassword: ADMIN_PASSWORD }, mirror: { anonymousPull: false, upstreams } },
    });
    await closed.deps.auth.accounts.addUser("reader", "reader-Pa55word");
  });

  afterAll(async () => {
    await open?.stop();
    await closed?.stop();
    await upstream?.stop();
  });

  // A name no local project owns is docker.io's (through the default upstream). Accepting a push there
  // would let any client replace library/base:1 for every docker daemon using the mirror.
  it.each([
    ["an open mirror (auth off), anonymously", () => open, undefined],
    ["a mirror with auth on, as a user without membership (anonymousPull off)", () => closed, { username: "reader", password: "reader-Pa55word" }],
  ] as const)("refuses them on %s, and keeps serving the upstream's content", async (_label, registry, creds) => {
    const mirror = registry();
    const fake = buildImage({ layers: 1, layerSize: 3_000 });
    let push = "accepted";
    // (With auth off, the Basic header is simply ignored: the push is anonymous.)
    await pushImageAs(mirror.url, creds ?? admin, "library/base", fake, "1").catch((err: Error) => (push = err.message));
    const pulled = await getWithChallenge(`${mirror.url}/v2/library/base/manifests/1`, { accept: ACCEPT, creds: creds ?? admin });
    // And the rest of the namespace still comes from the upstream (a push must not have turned "library"
    // into a local project that shadows every library/* image).
    const sibling = await getWithChallenge(`${mirror.url}/v2/library/other/manifests/1`, { accept: ACCEPT, creds: creds ?? admin });
    const outcome = {
      push,
      pulled: pulled.res.status,
      served: pulled.res.headers.get("docker-content-digest"),
      sibling: sibling.res.status,
      siblingServed: sibling.res.headers.get("docker-content-digest"),
    };
    expect(outcome).toEqual({
      push: expect.stringMatching(/: 403 .*DENIED/),
      pulled: 200,
      served: original.digest,
      sibling: 200,
      siblingServed: other.digest,
    });
  });
});

describe("per-upstream deny lists", () => {
  it("never sends a deny-listed prefixed name to any upstream, and does not accept pushes to it", async () => {
    const upstream = await startTestRegistry();
    const log = requestLog();
    // The default upstream: it must not hear about names under another upstream's prefix either.
    const hub = await startTestRegistry({ logger: log.logger });
    const image = buildImage({ layers: 1, layerSize: 1_000 });
    await pushImageAs(upstream.url, admin, "secret/x", image, "1");
    await pushImageAs(upstream.url, admin, "public/x", image, "1");
    const mirror = await startTestRegistry({
      config: {
        mirror: {
          upstreams: [
            { name: "hub", url: hub.url, prefix: "", registry: "docker.io", timeoutSeconds: 10 },
            { name: "quay", url: upstream.url, prefix: "quay.io", deny: ["secret/*"], timeoutSeconds: 10 },
          ],
        },
      },
    });
    try {
      // Allowed names come through; the denied one is refused without asking anybody.
      expect((await fetch(`${mirror.url}/v2/quay.io/public/x/manifests/1`, { headers: { Accept: ACCEPT } })).status).toBe(200);
      const denied = await fetch(`${mirror.url}/v2/quay.io/secret/x/manifests/1`, { headers: { Accept: ACCEPT } });
      const answer = [403, 404].includes(denied.status) ? "refused" : `${denied.status} ${await denied.text()}`;
      // A denied name is still a name under the quay.io prefix: nobody may push content there either.
      let push = "accepted";
      await pushImageAs(mirror.url, admin, "quay.io/secret/x", buildImage({ layers: 1, layerSize: 1_000 }), "1").catch((err: Error) => (push = err.message));
      const outcome = { answer, hubAsked: log.lines.filter((l) => l.includes("secret")), push };
      expect(outcome).toEqual({ answer: "refused", hubAsked: [], push: expect.stringMatching(/: 403 .*DENIED/) });
    } finally {
      await mirror.stop();
      await hub.stop();
      await upstream.stop();
    }
  });
});
