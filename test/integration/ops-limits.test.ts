// Request guards on a running Berth: the anonymous rate limit (per client address, through trusted
// proxies), X-Forwarded-* handling for the token realm and the audit log, body and header limits, and the
// slow-client timeouts.
import net from "node:net";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { rawExchange } from "../support/raw-exchange";
import { expectOciError, finishUpload, randomBytes, sha256, startUpload, uniqueSuffix } from "../support/oci-client";
import { waitFor } from "../support/wait-for";

const ADMIN = `Basic ${Buffer.from("admin:limits-admin-pw").toString("base64")}`;

describe("anonymous rate limit and trusted proxies", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({
      config: {
        auth: { enabled: true, adminPassword: "limits-admin-pw" },
        rateLimit: { enabled: true, requestsPerSecond: 0.5, burst: 3 },
        trustedProxies: ["loopback"],
      },
    });
  });
  afterAll(() => registry?.stop());

  const from = (ip: string, extra: Record<string, string> = {}) => ({ headers: { "x-forwarded-for": ip, ...extra } });

  it("answers 429 TOOMANYREQUESTS with Retry-After once an address has used its burst", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${registry.url}/v2/`, from("198.51.100.1"))).status);
    expect(statuses).toEqual([401, 401, 401]);
    const limited = await fetch(`${registry.url}/v2/`, from("198.51.100.1"));
    await expectOciError(limited, 429, "TOOMANYREQUESTS");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Another address has its own bucket; health and metrics are never limited.
    expect((await fetch(`${registry.url}/v2/`, from("198.51.100.2"))).status).toBe(401);
    expect((await fetch(`${registry.url}/healthz`, from("198.51.100.1"))).status).toBe(200);
    expect((await fetch(`${registry.url}/metrics`, from("198.51.100.1"))).status).toBe(200);
    const metrics = await (await fetch(`${registry.url}/metrics`)).text();
    expect(metrics).toMatch(/^berth_http_rate_limited_total [1-9]/m);
  });

  it("never spends an address's tokens on the web UI's pages and files", async () => {
    const ip = "198.51.100.60";
    for (const page of ["/", "/login", "/repositories/a/b", "/favicon.svg", "/", "/login"]) {
      expect({ page, status: (await fetch(`${registry.url}${page}`, from(ip))).status }).toEqual({ page, status: 200 });
    }
    // The whole burst is still there for the API.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${registry.url}/v2/`, from(ip))).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it("looks a browser's session up once per request, though the rate limiter and the route both ask", async () => {
    const ip = "198.51.100.61";
    const login = await fetch(`${registry.url}/api/v1/session`, {
      method: "POST",
      headers: { "x-forwarded-for": ip, "content-type": "application/json" },
      body: JSON.stringify({ username: "admin", password: "limits-admin-pw" }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers.get("set-cookie")!.split(";")[0];
    const sessions = registry.deps.auth.token!.sessions!;
    const resolve = jest.spyOn(sessions, "resolve");
    try {
      for (let i = 0; i < 5; i++) {
        // More requests than the burst: a session is authenticated, never limited.
        expect((await fetch(`${registry.url}/api/v1/users`, from(ip, { cookie }))).status).toBe(200);
      }
      expect(resolve).toHaveBeenCalledTimes(5);
    } finally {
      resolve.mockRestore();
    }
  });

  it("counts anonymous tokens as anonymous, but never limits authenticated clients", async () => {
    const ip = "198.51.100.3";
    const token = (await (await fetch(`${registry.url}/token?service=berth`, from(ip))).json()) as { token: string };
    const bearer = { authorization: `Bearer ${token.token}` };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${registry.url}/v2/`, from(ip, bearer))).status);
    expect(statuses).toEqual([200, 200, 429]);
    for (let i = 0; i < 10; i++) expect((await fetch(`${registry.url}/v2/`, from(ip, { authorization: ADMIN }))).status).toBe(200);
  });

  it("limits every request that did not authenticate, whatever header it carries", async () => {
    const forged = `Bearer e30.${Buffer.from(JSON.stringify({ sub: "admin" })).toString("base64url")}.sig`;
    const wrongPassword = `Basic ${Buffer.from("admin:not-the-password").toString("base64")}`;
    const headers = ["Foo", "Basic garbage", "Bearer garbage", forged, wrongPassword, undefined];
    for (const [i, authorization] of headers.entries()) {
      const ip = `198.51.100.${20 + i}`;
      const extra: Record<string, string> = authorization ? { authorization } : {};
      const statuses: number[] = [];
      for (let n = 0; n < 4; n++) statuses.push((await fetch(`${registry.url}/v2/`, from(ip, extra))).status);
      // The burst is 3: the fourth is refused (failed Basic credentials are charged after their 401).
      expect({ authorization, statuses }).toEqual({ authorization, statuses: [401, 401, 401, 429] });
    }
    // A session cookie that names no session is anonymous too.
    const cookieIp = "198.51.100.40";
    const statuses: number[] = [];
    for (let n = 0; n < 4; n++) statuses.push((await fetch(`${registry.url}/v2/`, from(cookieIp, { cookie: `berth_session=${"a".repeat(43)}` }))).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    // A real login is never limited, even from an address whose anonymous budget is spent.
    for (let i = 0; i < 10; i++) expect((await fetch(`${registry.url}/v2/`, from(cookieIp, { authorization: ADMIN }))).status).toBe(200);
    // (The web login itself is an anonymous request until it succeeds: log in from a fresh address.)
    const login = await fetch(`${registry.url}/api/v1/session`, {
      method: "POST",
      headers: { ...from("198.51.100.41").headers, "content-type": "application/json" },
      body: JSON.stringify({ username: "admin", password: "limits-admin-pw" }),
    });
    expect(login.status).toBe(200);
    const session = /berth_session=[^;]+/.exec(login.headers.get("set-cookie") ?? "")![0];
    for (let i = 0; i < 10; i++) expect((await fetch(`${registry.url}/api/v1/me`, from(cookieIp, { cookie: session }))).status).toBe(200);
  });

  it("takes the client address, scheme and host from trusted proxies only", async () => {
    const realm = async (headers: Record<string, string>) => (await fetch(`${registry.url}/v2/`, { headers })).headers.get("www-authenticate");
    const forwarded = { "x-forwarded-for": "203.0.113.50", "x-forwarded-proto": "https", "x-forwarded-host": "registry.example.com" };
    expect(await realm(forwarded)).toBe('Bearer realm="https://registry.example.com/token",service="berth"');

    // The audit log records the forwarded client address for a push.
    const repo = `proxied/app-${uniqueSuffix()}`;
    const data = randomBytes(100);
    const blob = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { method: "POST", body: data, headers: { ...forwarded, authorization: ADMIN } });
    expect(blob.status).toBe(201);
    const empty = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/?digest=${sha256("{}")}`, { method: "POST", body: "{}", headers: { ...forwarded, authorization: ADMIN } });
    expect(empty.status).toBe(201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256("{}"), size: 2 },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(data), size: 100 }],
    });
    const pushed = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, {
      method: "PUT",
      headers: { ...forwarded, authorization: ADMIN, "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: manifest,
    });
    expect(pushed.status).toBe(201);
    const events = await registry.deps.audit.query({ repository: repo, action: "push", limit: 10 });
    expect(events.map((e) => e.clientIp)).toEqual(["203.0.113.50"]);
  });

  it("throttles and audits web logins by the forwarded client address, not the proxy's", async () => {
    // Its own registry: the anonymous rate limit above would answer 429 before the login throttle does.
    const proxied = await startTestRegistry({
      config: { auth: { enabled: true, adminPassword: "limits-admin-pw", loginFailures: 3 }, trustedProxies: ["loopback"] },
    });
    try {
      const login = (ip: string, password: string) =>
        fetch(`${proxied.url}/api/v1/session`, {
          method: "POST",
          headers: { "x-forwarded-for": ip, "content-type": "application/json" },
          body: JSON.stringify({ username: "admin", password }),
        });
      const attacker = "203.0.113.66";
      const user = "203.0.113.67";
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await login(attacker, `wrong-${i}`)).status);
      expect(statuses).toEqual([401, 401, 401, 429]); // the attacker's address is throttled…
      const locked = await login(attacker, "limits-admin-pw");
      expect(locked.status).toBe(429);
      expect(await locked.text()).toMatch(/failed logins/);
      expect((await login(user, "limits-admin-pw")).status).toBe(200); // …and the user behind the same proxy is not
      await proxied.deps.audit.flush();
      const events = await proxied.deps.audit.query({ actor: "admin", action: "login", limit: 50 });
      expect(events.map((e) => [e.clientIp, e.success]).sort()).toEqual([
        [attacker, false],
        [attacker, false],
        [attacker, false],
        [user, true],
      ]);
    } finally {
      await proxied.stop();
    }
  });

  it("ignores X-Forwarded-* from peers that are not trusted proxies", async () => {
    const untrusted = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: "limits-admin-pw" }, rateLimit: { enabled: true, requestsPerSecond: 0.5, burst: 2 } } });
    try {
      const headers = { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", "x-forwarded-host": "evil.example" };
      const res = await fetch(`${untrusted.url}/v2/`, { headers });
      expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="${untrusted.url}/token",service="berth"`);
      // Spoofed addresses do not buy fresh buckets: all three requests come from 127.0.0.1.
      await fetch(`${untrusted.url}/v2/`, { headers: { "x-forwarded-for": "203.0.113.10" } });
      expect((await fetch(`${untrusted.url}/v2/`, { headers: { "x-forwarded-for": "203.0.113.11" } })).status).toBe(429);
    } finally {
      await untrusted.stop();
    }
  });
});

describe("body and header limits, slow clients", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({
      config: { http: { maxBlobBytes: 4096, maxBodyBytes: 2048, maxHeaderBytes: 2048, requestTimeoutSeconds: 1, idleTimeoutSeconds: 2 } },
    });
  });
  afterAll(() => registry?.stop());

  it("refuses blob uploads over maxBlobBytes with 413, by Content-Length, Content-Range or while streaming", async () => {
    const repo = `limits/blob-${uniqueSuffix()}`;
    const big = randomBytes(5000);
    const whole = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/?digest=${sha256(big)}`, { method: "POST", body: big });
    const body = await expectOciError(whole, 413, "SIZE_INVALID");
    expect(JSON.stringify(body)).toMatch(/4096/);

    const { location } = await startUpload(registry.url, repo);
    const chunk = await fetch(location, { method: "PATCH", headers: { "content-range": "4000-4199" }, body: randomBytes(200) });
    await expectOciError(chunk, 413, "SIZE_INVALID");

    // Streamed without a length: the connection is cut once the limit is passed.
    const streamed = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/?digest=${sha256(big)}`, {
      method: "POST",
      body: new ReadableStream({ start(c) { c.enqueue(big.subarray(0, 3000)); c.enqueue(big.subarray(3000)); c.close(); } }),
      duplex: "half",
    } as RequestInit).then((r) => r.status, (err: Error) => err.name);
    expect([413, "TypeError"]).toContain(streamed);
    // A blob within the limit still goes through.
    const small = randomBytes(4096);
    expect((await fetch(`${registry.url}/v2/${repo}/blobs/uploads/?digest=${sha256(small)}`, { method: "POST", body: small })).status).toBe(201);
  });

  it("refuses other bodies over maxBodyBytes and request heads over maxHeaderBytes", async () => {
    const manifest = await fetch(`${registry.url}/v2/limits/m/manifests/v1`, {
      method: "PUT",
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: Buffer.alloc(3000, 32),
    });
    await expectOciError(manifest, 413, "SIZE_INVALID");
    // Streamed without a length, the handler reading it is stopped with the same 413 (and the connection closed).
    const streamed = await rawExchange(registry.host, (s) => {
      s.write("PUT /v2/limits/m/manifests/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (let i = 0; i < 3; i++) s.write(`400\r\n${" ".repeat(1024)}\r\n`);
    });
    expect(streamed.response).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: close[\s\S]*SIZE_INVALID/i);
    const { response } = await rawExchange(registry.host, (s) => s.write(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(3000)}\r\n\r\n`));
    expect(response).toMatch(/^HTTP\/1\.1 431 /);
  });

  it("answers 408 and closes the connection when a non-upload request is not received in time", async () => {
    const { response, closedAfterMs } = await rawExchange(registry.host, (s) =>
      s.write("PUT /v2/limits/slow/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 500\r\n\r\n{\"schema"),
    );
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(response).toMatch(/connection: close/i);
    expect(closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(closedAfterMs).toBeLessThan(5000);
  });

  it("cuts an upload whose body stalls for idleTimeoutSeconds, and the session can go on afterwards", async () => {
    const repo = `limits/idle-${uniqueSuffix()}`;
    const { location } = await startUpload(registry.url, repo);
    const data = randomBytes(3000);
    const path = `${location.pathname}${location.search}`;
    // Longer than requestTimeoutSeconds (1 s): uploads are exempt from it and only the idle timeout applies.
    const { closedAfterMs } = await rawExchange(registry.host, (s) => {
      s.write(`PATCH ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
      s.write(`3e8\r\n`);
      s.write(data.subarray(0, 1000));
      s.write(`\r\n`);
    });
    expect(closedAfterMs).toBeGreaterThanOrEqual(1900);
    expect(closedAfterMs).toBeLessThan(8000);
    const status = await fetch(location);
    expect(status.status).toBe(204);
    // What arrived before the stall is kept or dropped as a unit ("0-0" is the empty session's Range).
    const range = status.headers.get("range");
    expect(["0-0", "0-999"]).toContain(range);
    const start = range === "0-0" ? 0 : 1000;
    const rest = await fetch(location, { method: "PATCH", headers: { "content-range": `${start}-${data.length - 1}` }, body: data.subarray(start) });
    expect(rest.status).toBe(202);
    expect((await finishUpload(new URL(rest.headers.get("location")!, registry.url), sha256(data))).status).toBe(201);
  });
});

describe("connection caps and header-less sockets", () => {
  /** An idle connection from `source` (a loopback address), once established. */
  const idle = (host: string, source: string, opened: net.Socket[]) =>
    new Promise<net.Socket>((resolve, reject) => {
      const [hostname, port] = host.split(":");
      const socket = net.connect({ host: hostname, port: Number(port), localAddress: source }, () => resolve(socket));
      socket.on("error", reject);
      opened.push(socket);
    });
  /** What a fresh connection from `source` gets for GET /healthz, up to the server's close. */
  const healthz = (host: string, source: string) => {
    const [hostname, port] = host.split(":");
    return new Promise<string>((resolve, reject) => {
      let response = "";
      const socket = net.connect({ host: hostname, port: Number(port), localAddress: source }, () =>
        socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      );
      socket.on("data", (d) => (response += d.toString("latin1")));
      socket.on("error", reject);
      socket.on("close", () => resolve(response));
    });
  };

  it("refuses connections over the per-address and total caps with 503, and serves other addresses", async () => {
    const registry = await startTestRegistry({ config: { http: { maxConnections: 8, maxConnectionsPerAddress: 5 } } });
    const opened: net.Socket[] = [];
    try {
      for (let i = 0; i < 5; i++) await idle(registry.host, "127.0.0.1", opened);
      const refused = await healthz(registry.host, "127.0.0.1");
      expect(refused).toMatch(/^HTTP\/1\.1 503 /);
      expect(refused).toMatch(/"code":"UNAVAILABLE".*your address/);
      expect(refused).not.toMatch(/"status":"ok"|200 OK/);
      // Another address is still served while the first one is at its cap.
      expect(await healthz(registry.host, "127.0.0.2")).toMatch(/^HTTP\/1\.1 200 /);

      // The total cap: 5 + 3 open connections leave no room for a third address.
      for (let i = 0; i < 3; i++) await idle(registry.host, "127.0.0.2", opened);
      expect(await healthz(registry.host, "127.0.0.3")).toMatch(/^HTTP\/1\.1 503 [^]*the server/);

      // Closing idle connections gives the room back.
      const closed = opened.splice(0, 2);
      for (const s of closed) s.destroy();
      await waitFor("a connection from 127.0.0.1 to be served again", async () => /^HTTP\/1\.1 200 /.test(await healthz(registry.host, "127.0.0.1")));
    } finally {
      for (const s of opened) s.destroy();
      await registry.stop();
    }
  });

  it("closes a connection that sends no request head within headersTimeoutSeconds", async () => {
    const registry = await startTestRegistry({ config: { http: { headersTimeoutSeconds: 1 } } });
    const opened: net.Socket[] = [];
    try {
      const socket = await idle(registry.host, "127.0.0.1", opened);
      // Far below the 30 s Node would take by default, far above the configured second.
      const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      // Read whatever comes (Node's own header check may answer 408 first): a paused socket never sees its end.
      socket.resume();
      const tooLong = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the idle socket is still open after 15 s")), 15_000).unref());
      await Promise.race([closed, tooLong]);
    } finally {
      for (const s of opened) s.destroy();
      await registry.stop();
    }
  });
});
