// Request guards on a running Berth: the anonymous rate limit (per client address, through trusted
// proxies), X-Forwarded-* handling for the token realm and the audit log, body and header limits, and the
// slow-client timeouts.
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { rawExchange } from "../support/raw-exchange";
import { expectOciError, finishUpload, randomBytes, sha256, startUpload, uniqueSuffix } from "../support/oci-client";

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

  it("counts anonymous tokens as anonymous, but never limits authenticated clients", async () => {
    const ip = "198.51.100.3";
    const token = (await (await fetch(`${registry.url}/token?service=berth`, from(ip))).json()) as { token: string };
    const bearer = { authorization: `Bearer ${token.token}` };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${registry.url}/v2/`, from(ip, bearer))).status);
    expect(statuses).toEqual([200, 200, 429]);
    for (let i = 0; i < 10; i++) expect((await fetch(`${registry.url}/v2/`, from(ip, { authorization: ADMIN }))).status).toBe(200);
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
