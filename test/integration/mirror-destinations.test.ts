// Where a mirror lets an upstream send it. The upstream is a small hostile registry on loopback: its 401
// challenges name a token realm on another port, and its blob redirects point wherever a test wants —
// another loopback port, the cloud metadata address, [::1], a host name that resolves to this machine.
// Berth must send an upstream's credentials only to its own host and the hosts configured for it, never
// carry an Authorization header across a redirect to another origin, and refuse realms and redirects on
// loopback, private and link-local addresses unless the upstream allows private networks (link-local
// never): a clean 503 UNAVAILABLE and a log line naming what was refused.
import { lookup } from "node:dns/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { addressScope } from "../../src/kernel/addresses";
import { requestLog } from "../support/request-log";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { bodyBytes, buildImage, digestOf, expectOciError, MediaTypes, randomBytes } from "../support/oci-client";

const USERNAME = "mirror-robot";
const PASSWORD = "upstream-Pa55word-that-must-not-leak";
const BASIC = `Basic ${Buffer.from(`${USERNAME}:${PASSWORD}`).toString("base64")}`;
const TOKEN = "upstream-token-for-the-upstream-only";
const ACCEPT = [MediaTypes.OCI_MANIFEST, MediaTypes.DOCKER_MANIFEST].join(", ");

interface Seen {
  path: string;
  authorization: string | null;
}

/** A plain HTTP server on a random loopback port that records what it was asked, with which Authorization. */
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization ?? null });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

describe("mirror destinations: credentials and private networks", () => {
  const image = buildImage({ layers: 1, layerSize: 2_000 });
  /** Blobs by digest, each with where the upstream redirects a GET of it (null: it serves the bytes). */
  const blobs = new Map<string, { data: Buffer; redirect: string | null }>();
  let realm: Awaited<ReturnType<typeof listen>>;
  let store: Awaited<ReturnType<typeof listen>>;
  let upstream: Awaited<ReturnType<typeof listen>>;
  let mirror: TestRegistry;
  let log: ReturnType<typeof requestLog>;

  /** A blob the upstream answers with a redirect to `target(digest)`. */
  function redirectedBlob(target: (digest: string) => string): { digest: string; data: Buffer } {
    const data = randomBytes(3_000);
    const digest = digestOf(data);
    blobs.set(digest, { data, redirect: target(digest) });
    return { digest, data };
  }

  beforeAll(async () => {
    // The token service: hands out a token to anybody, and remembers who sent which credentials.
    realm = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
    });
    // Where redirected blobs really are (an object store or CDN elsewhere).
    store = await listen((req, res) => {
      const blob = blobs.get(req.url!.split("/").pop()!);
      res.writeHead(blob ? 200 : 404);
      res.end(blob?.data);
    });
    // The upstream: repositories under private/ need the realm's token; blobs may redirect.
    upstream = await listen((req, res) => {
      const url = req.url ?? "";
      if (url === "/v2/" || url === "/v2") return void res.writeHead(200).end("{}");
      if (url.includes("/private/") && req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { "www-authenticate": `Bearer realm="http://127.0.0.1:${realm.port}/token",service="hostile"`, "content-type": "application/json" });
        return void res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}');
      }
      if (/\/manifests\//.test(url)) {
        res.writeHead(200, { "content-type": image.mediaType, "docker-content-digest": image.digest });
        return void res.end(req.method === "HEAD" ? undefined : image.bytes);
      }
      const blob = blobs.get(url.split("/").pop()!);
      if (!blob) return void res.writeHead(404).end();
      if (blob.redirect) return void res.writeHead(307, { location: blob.redirect }).end();
      res.writeHead(200, { "content-length": String(blob.data.length) });
      res.end(blob.data);
    });

    log = requestLog();
    const url = `http://127.0.0.1:${upstream.port}`;
    const common = { url, timeoutSeconds: 5, tagTtlSeconds: 0 };
    mirror = await startTestRegistry({
      logger: log.logger,
      config: {
        mirror: {
          upstreams: [
            // Credentials, the realm on another port not listed: the credentials must stay home.
            { name: "unlisted", prefix: "unlisted.example", username: USERNAME, password: PASSWORD, allowPrivateNetworks: true, ...common },
            // The same realm listed as a credential host: they go there.
            { name: "listed", prefix: "listed.example", username: USERNAME, password: PASSWORD, credentialHosts: [`127.0.0.1:${realm.port}`], allowPrivateNetworks: true, ...common },
            // Anonymous, private networks allowed: the realm and loopback redirects are fine, metadata is not.
            { name: "inside", prefix: "inside.example", allowPrivateNetworks: true, ...common },
            // Anonymous, the default: nothing but the upstream's own (literal) address on a private network.
            { name: "outside", prefix: "outside.example", ...common },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await mirror?.stop();
    await Promise.all([close(upstream?.server), close(realm?.server), close(store?.server)]);
  });

  /** The refusals logged since `from`, as "upstream host" pairs. */
  function refusalsSince(from: number): string[] {
    return log.entries
      .slice(from)
      .filter((e) => e.msg === "refused an upstream's destination")
      .map((e) => `${String(e.upstream)} ${String(e.host)}`);
  }

  it("does not send the upstream's credentials to a realm on another host:port that is not listed", async () => {
    const before = realm.seen.length;
    const logged = log.entries.length;
    const res = await fetch(`${mirror.url}/v2/unlisted.example/private/app/manifests/1`, { headers: { Accept: ACCEPT } });
    const body = await expectOciError(res, 503, "UNAVAILABLE");
    expect(JSON.stringify(body.errors[0])).toContain(`127.0.0.1:${realm.port}`);
    expect(JSON.stringify(body.errors[0])).toMatch(/credential hosts/);
    // The realm never heard from us — not with the credentials, not at all.
    expect(realm.seen.slice(before)).toEqual([]);
    expect(refusalsSince(logged)).toContain(`unlisted 127.0.0.1:${realm.port}`);
    // Nor did anybody else: the password went nowhere.
    expect([...upstream.seen, ...store.seen, ...realm.seen].filter((s) => s.authorization === BASIC)).toEqual([]);
  });

  it("sends them to a realm listed in credentialHosts, and pulls", async () => {
    const before = realm.seen.length;
    const res = await fetch(`${mirror.url}/v2/listed.example/private/app/manifests/1`, { headers: { Accept: ACCEPT } });
    expect(res.status).toBe(200);
    expect(await bodyBytes(res)).toEqual(image.bytes);
    expect(realm.seen.slice(before)).toEqual([{ path: expect.stringContaining("scope=repository%3Aprivate%2Fapp%3Apull"), authorization: BASIC }]);
    // The upstream got the token, never the password.
    expect(upstream.seen.filter((s) => s.authorization === BASIC)).toEqual([]);
  });

  it("asks a realm on another host anonymously when the upstream has no credentials", async () => {
    const before = realm.seen.length;
    const res = await fetch(`${mirror.url}/v2/inside.example/private/anon/manifests/1`, { headers: { Accept: ACCEPT } });
    expect(res.status).toBe(200);
    expect(realm.seen.slice(before)).toEqual([{ path: expect.any(String), authorization: null }]);
  });

  it("refuses a token realm on loopback for an upstream that does not allow private networks", async () => {
    const before = realm.seen.length;
    const logged = log.entries.length;
    await expectOciError(await fetch(`${mirror.url}/v2/outside.example/private/app/manifests/1`, { headers: { Accept: ACCEPT } }), 503, "UNAVAILABLE");
    expect(realm.seen.slice(before)).toEqual([]);
    expect(refusalsSince(logged)).toEqual([`outside 127.0.0.1:${realm.port}`]);
  });

  it.each([
    ["another loopback port", () => `http://127.0.0.1:${store.port}`, "127.0.0.1"],
    ["the cloud metadata address", () => "http://169.254.169.254", "169.254.169.254"],
    ["IPv6 loopback", () => `http://[::1]:${store.port}`, "[::1]"],
    ["IPv4-mapped IPv6 loopback", () => `http://[::ffff:127.0.0.1]:${store.port}`, "[::ffff:7f00:1]"],
    ["the unspecified address", () => `http://0.0.0.0:${store.port}`, "0.0.0.0"],
  ])("refuses a blob redirect to %s when private networks are not allowed", async (_label, base, host) => {
    const blob = redirectedBlob((digest) => `${base()}/blobs/${digest}`);
    const before = store.seen.length;
    const logged = log.entries.length;
    const res = await fetch(`${mirror.url}/v2/outside.example/open/app/blobs/${blob.digest}`);
    const body = await expectOciError(res, 503, "UNAVAILABLE");
    expect(JSON.stringify(body.errors[0])).toContain("refused to connect to");
    expect(store.seen.slice(before)).toEqual([]);
    expect(refusalsSince(logged)[0]).toMatch(new RegExp(`^outside ${host.replace(/[[\].]/g, "\\$&")}`));
  });

  it("refuses a redirect to a host name that resolves to this machine, checking the address it connects to", async () => {
    // A name, not a literal: only the DNS answer, checked as the connection is made, can tell.
    const name = os.hostname();
    const { address } = await lookup(name);
    expect({ name, scope: addressScope(address) }).toEqual({ name, scope: expect.stringMatching(/^(loopback|private)$/) });
    const blob = redirectedBlob((digest) => `http://${name}:${store.port}/blobs/${digest}`);
    const before = store.seen.length;
    const logged = log.entries.length;
    const body = await expectOciError(await fetch(`${mirror.url}/v2/outside.example/open/app/blobs/${blob.digest}`), 503, "UNAVAILABLE");
    expect(JSON.stringify(body.errors[0])).toContain(`refused to connect to ${name} (${address})`);
    expect(store.seen.slice(before)).toEqual([]);
    expect(refusalsSince(logged)).toEqual([`outside ${name}`]);
  });

  it("follows a redirect to another loopback port when private networks are allowed, without the token", async () => {
    const blob = redirectedBlob((digest) => `http://127.0.0.1:${store.port}/blobs/${digest}`);
    const before = store.seen.length;
    const res = await fetch(`${mirror.url}/v2/inside.example/private/app/blobs/${blob.digest}`);
    expect(res.status).toBe(200);
    expect(await bodyBytes(res)).toEqual(blob.data);
    // The upstream saw its token; the store behind the redirect, another origin, did not.
    expect(upstream.seen.some((s) => s.path.endsWith(blob.digest) && s.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(store.seen.slice(before)).toEqual([{ path: `/blobs/${blob.digest}`, authorization: null }]);
  });

  it("still refuses link-local (cloud metadata) when private networks are allowed", async () => {
    const blob = redirectedBlob(() => "http://169.254.169.254/latest/meta-data/iam/security-credentials/");
    const logged = log.entries.length;
    const body = await expectOciError(await fetch(`${mirror.url}/v2/inside.example/open/app/blobs/${blob.digest}`), 503, "UNAVAILABLE");
    expect(JSON.stringify(body.errors[0])).toMatch(/169\.254\.169\.254.*link-local/);
    expect(refusalsSince(logged)).toEqual(["inside 169.254.169.254"]);
  });

  it("serves blobs straight from the upstream's own literal address without any allowance", async () => {
    const data = randomBytes(2_500);
    const digest = digestOf(data);
    blobs.set(digest, { data, redirect: null });
    const res = await fetch(`${mirror.url}/v2/outside.example/open/app/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(await bodyBytes(res)).toEqual(data);
  });
});
