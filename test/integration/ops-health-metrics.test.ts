// /healthz, /readyz and /metrics on a running Berth: metric content after pushes and pulls (route patterns,
// never raw paths), uploads in progress, the scrape token, mirror figures, and readiness going false when the
// database stops.
import { startPostgres, createTestDatabase, type PostgresServer, type TestDatabase } from "../support/postgres";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { buildImage, pushImage, randomBytes, sha256, startUpload, patchStream, finishUpload, uniqueSuffix } from "../support/oci-client";
import { waitFor } from "../support/wait-for";

/** A metric's value from the text exposition, by name and (a subset of) labels; undefined when absent. */
function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

async function scrape(registry: TestRegistry, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${registry.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe("health and metrics", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry();
  });
  afterAll(() => registry?.stop());

  it("/healthz answers while the process runs, /readyz when database and storage answer", async () => {
    const health = await fetch(`${registry.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    expect((await fetch(`${registry.url}/healthz`, { method: "HEAD" })).status).toBe(200);
    const ready = await fetch(`${registry.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { database: { ok: true }, storage: { ok: true } } });
  });

  it("counts requests by route pattern and status, with latency and bytes, after a push and a pull", async () => {
    const repo = `metrics/app-${uniqueSuffix()}`;
    const image = buildImage({ layers: 2, layerSize: 4096 });
    expect((await pushImage(registry.url, repo, image, "v1")).status).toBe(201);
    const manifest = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, { headers: { accept: image.mediaType } });
    expect(manifest.status).toBe(200);
    await manifest.arrayBuffer();
    for (const layer of image.layers) {
      const blob = await fetch(`${registry.url}/v2/${repo}/blobs/${layer.descriptor.digest}`);
      expect(Buffer.from(await blob.arrayBuffer()).length).toBe(4096);
    }
    expect((await fetch(`${registry.url}/v2/${repo}/manifests/missing`)).status).toBe(404);

    const text = await scrape(registry);
    const manifests = "/v2/{name}/manifests/{ref}";
    const blobs = "/v2/{name}/blobs/{ref}";
    const uploads = "/v2/{name}/blobs/uploads";
    expect(metricValue(text, "berth_http_requests_total", { route: manifests, method: "PUT", status: "201" })).toBe(1);
    expect(metricValue(text, "berth_http_requests_total", { route: manifests, method: "GET", status: "200" })).toBe(1);
    expect(metricValue(text, "berth_http_requests_total", { route: manifests, method: "GET", status: "404" })).toBe(1);
    expect(metricValue(text, "berth_http_requests_total", { route: blobs, method: "GET", status: "200" })).toBe(2);
    expect(metricValue(text, "berth_http_requests_total", { route: uploads, method: "POST", status: "201" })).toBe(3);
    expect(metricValue(text, "berth_http_request_duration_seconds_count", { route: manifests, method: "GET" })).toBe(2);
    expect(metricValue(text, "berth_http_request_duration_seconds_bucket", { route: blobs, method: "GET", le: "+Inf" })).toBe(2);
    // Bytes: both layers and the config went up through the uploads route, both layers came down.
    const pushed = image.layers.reduce((n, l) => n + l.data.length, image.config.data.length);
    expect(metricValue(text, "berth_http_request_body_bytes_total", { route: uploads })).toBe(pushed);
    expect(metricValue(text, "berth_http_request_body_bytes_total", { route: manifests })).toBe(image.bytes.length);
    expect(metricValue(text, "berth_http_response_body_bytes_total", { route: blobs })).toBe(8192);
    // Route patterns, never raw paths: the repository name appears nowhere.
    expect(text).not.toContain(repo);
    // Process metrics, the in-flight gauge (this scrape) and the zeroed GC figures are there too.
    expect(metricValue(text, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(metricValue(text, "berth_http_requests_in_flight")).toBe(1);
    expect(metricValue(text, "berth_gc_runs_total", { outcome: "success" })).toBe(0);
  });

  it("shows uploads in progress and open upload sessions", async () => {
    const repo = `metrics/upload-${uniqueSuffix()}`;
    const { location } = await startUpload(registry.url, repo);
    const data = randomBytes(64 * 1024);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(data.subarray(0, 1024));
        await gate;
        controller.enqueue(data.subarray(1024));
        controller.close();
      },
    });
    const patch = patchStream(location, body);
    // The first kilobyte is on its way and the rest held back: the PATCH is in progress until released.
    const during = await waitFor("the PATCH in progress", async () => {
      const text = await scrape(registry);
      return metricValue(text, "berth_uploads_in_progress") === 1 && text;
    });
    expect(metricValue(during, "berth_upload_sessions")).toBe(1);
    release();
    expect((await patch).status).toBe(202);
    expect((await finishUpload(location, sha256(data))).status).toBe(201);
    const after = await scrape(registry);
    expect(metricValue(after, "berth_uploads_in_progress")).toBe(0);
    expect(metricValue(after, "berth_upload_sessions")).toBe(0);
  });

  it("/readyz goes false once a graceful shutdown starts draining", async () => {
    const drained = await startTestRegistry();
    try {
      drained.deps.ops.health.drain();
      const res = await fetch(`${drained.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "shutting down" });
      expect((await fetch(`${drained.url}/healthz`)).status).toBe(200);
    } finally {
      await drained.stop();
    }
  });
});

describe("metrics settings", () => {
  it("requires the bearer token when metrics.token is set, and serves nothing when metrics are off", async () => {
    const token = "scrape-token-0123456789";
    const guarded = await startTestRegistry({ config: { metrics: { token }, auth: { enabled: true, adminPassword: "metrics-admin" } } });
    try {
      const denied = await fetch(`${guarded.url}/metrics`);
      expect(denied.status).toBe(401);
      expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: "Bearer wrong-token-0123456789" } })).status).toBe(401);
      expect(await scrape(guarded, { authorization: `Bearer ${token}` })).toContain("berth_http_requests_total");
      // Health needs no credentials even with auth on.
      expect((await fetch(`${guarded.url}/readyz`)).status).toBe(200);
    } finally {
      await guarded.stop();
    }
    const off = await startTestRegistry({ config: { metrics: { enabled: false } } });
    try {
      expect((await fetch(`${off.url}/metrics`)).status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});

describe("mirror metrics", () => {
  it("exposes cache hits, misses and upstream figures", async () => {
    const upstream = await startTestRegistry();
    const mirror = await startTestRegistry({
      config: { mirror: { upstreams: [{ name: "hub", url: upstream.url, prefix: "", tagTtlSeconds: 300, timeoutSeconds: 5 }] } },
    });
    try {
      const image = buildImage({ layers: 1, layerSize: 2048 });
      expect((await pushImage(upstream.url, "library/thing", image, "1")).status).toBe(201);
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${mirror.url}/v2/library/thing/manifests/1`, { headers: { accept: image.mediaType } });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        const blob = await fetch(`${mirror.url}/v2/library/thing/blobs/${image.layers[0].descriptor.digest}`);
        expect(Buffer.from(await blob.arrayBuffer()).length).toBe(2048);
        // The client has its bytes once they verified; the second round should find them stored.
        await mirror.deps.mirror!.idle();
      }
      const text = await scrape(mirror);
      expect(metricValue(text, "berth_mirror_cache_misses_total")).toBeGreaterThanOrEqual(2);
      expect(metricValue(text, "berth_mirror_cache_hits_total")).toBeGreaterThanOrEqual(2);
      expect(metricValue(text, "berth_mirror_upstream_bytes_total")).toBeGreaterThanOrEqual(2048);
      expect(metricValue(text, "berth_mirror_bytes_saved_total")).toBeGreaterThanOrEqual(2048);
      expect(metricValue(text, "berth_mirror_upstream_requests_total", { upstream: "hub" })).toBeGreaterThan(0);
      expect(metricValue(text, "berth_mirror_upstream_circuit_open", { upstream: "hub" })).toBe(0);
      // A second scrape does not double the totals.
      const again = await scrape(mirror);
      expect(metricValue(again, "berth_mirror_cache_misses_total")).toBe(metricValue(text, "berth_mirror_cache_misses_total"));
    } finally {
      await mirror.stop();
      await upstream.stop();
    }
  });
});

describe("readiness when the database stops", () => {
  let server: PostgresServer;
  let database: TestDatabase;
  let registry: TestRegistry;
  beforeAll(async () => {
    server = await startPostgres();
    database = await createTestDatabase(server.adminUrl);
    registry = await startTestRegistry({ database: "embedded", config: { databaseUrl: database.url } });
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
    await server?.stop();
  });

  it("answers 503 on /readyz (and still 200 on /healthz), and counts the database errors", async () => {
    expect(registry.deps.database.kind).toBe("postgres");
    expect((await fetch(`${registry.url}/readyz`)).status).toBe(200);
    await server.stop();

    const ready = await fetch(`${registry.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      status: "not ready",
      checks: { database: { ok: false, ms: expect.any(Number) }, storage: { ok: true, ms: expect.any(Number) } },
    });
    expect((await fetch(`${registry.url}/healthz`)).status).toBe(200);

    const failed = await fetch(`${registry.url}/v2/some/repo/manifests/latest`);
    expect(failed.status).toBe(500);
    const text = await scrape(registry);
    expect(metricValue(text, "berth_database_errors_total", { source: "readiness" })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, "berth_database_errors_total", { source: "request" })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, "berth_database_errors_total", { source: "scrape" })).toBeGreaterThanOrEqual(1);
  });
});
