// Pure pieces of the operations layer: route labels, trusted proxies, the token bucket, anonymous
// detection, the notification envelope and its signature, the storage error counter, GC metrics.
import { createHmac } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { routeLabel } from "../../src/http/route-table";
import { resolveClientInfo, TrustedProxies } from "../../src/http/client-info";
import { TokenBuckets } from "../../src/ops/rate-limit";
import { signBody, toNotificationEvent } from "../../src/events/notification-envelope";
import { EventBus, type BerthEvent } from "../../src/events/event-bus";
import { Metrics } from "../../src/metrics/metrics";
import { instrumentStorage } from "../../src/ops/instrumented-storage";
import { PathNotFoundError, type StorageDriver } from "../../src/storage/driver";
import { isDatabaseError } from "../../src/ops/request-ops";

function fakeRequest(remoteAddress: string, headers: Record<string, string> = {}, encrypted = false): IncomingMessage {
  return { socket: { remoteAddress, encrypted }, headers: { host: "registry.test:5000", ...headers } } as unknown as IncomingMessage;
}

describe("route labels", () => {
  it.each([
    [/^\/v2\/?$/, "/v2"],
    [/^\/v2\/_catalog$/, "/v2/_catalog"],
    [/^\/v2\/(.+)\/blobs\/uploads\/?$/, "/v2/{name}/blobs/uploads"],
    [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, "/v2/{name}/blobs/uploads/{ref}"],
    [/^\/v2\/(.+)\/manifests\/([^/]+)$/, "/v2/{name}/manifests/{ref}"],
    [/^\/token\/?$/, "/token"],
    [/^\/api\/v1\/projects\/([^/]+)\/members\/([^/]+)$/, "/api/v1/projects/{ref}/members/{ref}"],
    [/^\/healthz$/, "/healthz"],
  ])("%s → %s", (pattern, label) => {
    expect(routeLabel(pattern)).toBe(label);
  });
});

describe("trusted proxies", () => {
  it("ignores X-Forwarded-* from untrusted peers", () => {
    const req = fakeRequest("203.0.113.9", { "x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https", "x-forwarded-host": "evil.test" });
    const info = resolveClientInfo(req, new TrustedProxies([]));
    expect(info).toMatchObject({ ip: "203.0.113.9", proto: "http", host: "registry.test:5000", origin: "http://registry.test:5000" });
  });

  it("walks X-Forwarded-For past trusted hops only", () => {
    const proxies = new TrustedProxies(["10.0.0.0/8", "::1"]);
    const req = fakeRequest("::ffff:10.0.0.2", {
      "x-forwarded-for": "198.51.100.7, 192.0.2.1, 10.1.2.3",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "registry.example.com",
    });
    // 10.1.2.3 is another trusted proxy; 192.0.2.1 is the first untrusted hop: the client as far as we can tell.
    expect(resolveClientInfo(req, proxies)).toMatchObject({ ip: "192.0.2.1", proto: "https", host: "registry.example.com", origin: "https://registry.example.com" });
    expect(resolveClientInfo(fakeRequest("::1", { "x-forwarded-for": "2001:db8::5" }), proxies).ip).toBe("2001:db8::5");
  });

  it("understands loopback, private and any, and stops at garbage", () => {
    expect(new TrustedProxies(["loopback"]).trusts("127.0.0.5")).toBe(true);
    expect(new TrustedProxies(["private"]).trusts("172.20.0.3")).toBe(true);
    expect(new TrustedProxies(["private"]).trusts("8.8.8.8")).toBe(false);
    expect(new TrustedProxies(["any"]).trusts("8.8.8.8")).toBe(true);
    const req = fakeRequest("127.0.0.1", { "x-forwarded-for": "not-an-ip, 127.0.0.2" });
    expect(resolveClientInfo(req, new TrustedProxies(["loopback"])).ip).toBe("127.0.0.2");
  });

  it("prefers externalUrl for the origin, and https on TLS sockets", () => {
    expect(resolveClientInfo(fakeRequest("127.0.0.1"), new TrustedProxies([]), "https://r.example.com").origin).toBe("https://r.example.com");
    expect(resolveClientInfo(fakeRequest("127.0.0.1", {}, true), new TrustedProxies([])).origin).toBe("https://registry.test:5000");
  });
});

describe("token buckets", () => {
  it("allows a burst, then refills at the rate, per key", () => {
    let now = 0;
    const buckets = new TokenBuckets(2, 3, 10, () => now);
    expect([buckets.take("a"), buckets.take("a"), buckets.take("a")]).toEqual([0, 0, 0]);
    expect(buckets.take("a")).toBe(1);
    expect(buckets.take("b")).toBe(0);
    now += 500; // one token back at 2/s
    expect(buckets.take("a")).toBe(0);
    expect(buckets.take("a")).toBeGreaterThan(0);
  });

  it("forgets the least recently seen keys beyond its bound", () => {
    const buckets = new TokenBuckets(1, 1, 2, () => 0);
    buckets.take("a");
    buckets.take("b");
    buckets.take("c");
    expect(buckets.size).toBe(2);
    expect(buckets.take("a")).toBe(0); // forgotten, so full again
  });

});

describe("notification envelope", () => {
  const base: BerthEvent = {
    id: "e1",
    timestamp: new Date("2026-01-02T03:04:05Z"),
    actor: { kind: "user", name: "alice", address: "192.0.2.1" },
    action: "push",
    repository: "team/app",
    reference: "v1",
    detail: { digest: "sha256:" + "a".repeat(64), mediaType: "application/vnd.oci.image.manifest.v1+json", size: 123 },
    request: { id: "r1", addr: "192.0.2.1", host: "registry.example.com", method: "PUT", useragent: "skopeo", origin: "https://registry.example.com" },
  };
  const source = { addr: "host:5000", instanceID: "i1" };

  it("has the CNCF registry's shape", () => {
    expect(toNotificationEvent(base, source)).toEqual({
      id: "e1",
      timestamp: "2026-01-02T03:04:05.000Z",
      action: "push",
      target: {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        size: 123,
        length: 123,
        digest: "sha256:" + "a".repeat(64),
        repository: "team/app",
        url: `https://registry.example.com/v2/team/app/manifests/sha256:${"a".repeat(64)}`,
        tag: "v1",
      },
      request: { id: "r1", addr: "192.0.2.1", host: "registry.example.com", method: "PUT", useragent: "skopeo" },
      actor: { name: "alice" },
      source,
    });
  });

  it("names blob deletes by digest and skips logins and failures", () => {
    const digest = "sha256:" + "b".repeat(64);
    const blobDelete = toNotificationEvent({ ...base, action: "delete", reference: digest, detail: { target: "blob" } }, source)!;
    expect(blobDelete.target).toEqual({ digest, repository: "team/app", url: `https://registry.example.com/v2/team/app/blobs/${digest}` });
    expect(toNotificationEvent({ ...base, action: "login", detail: {} }, source)).toBeNull();
    expect(toNotificationEvent({ ...base, success: false }, source)).toBeNull();
  });

  it("signs the raw body with HMAC-SHA256", () => {
    const body = JSON.stringify({ events: [] });
    expect(signBody("s3cret-s3cret-s3cret", body)).toBe(`sha256=${createHmac("sha256", "s3cret-s3cret-s3cret").update(body).digest("hex")}`);
  });

  it("the event bus gives every subscriber each event and isolates their failures", () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.subscribe(() => {
      throw new Error("boom");
    });
    const stop = bus.subscribe((e) => seen.push(`${e.action} ${e.repository} ${typeof e.id} ${e.timestamp instanceof Date}`));
    const actor = { kind: "user", name: "a", address: "192.0.2.1" } as const;
    bus.record({ actor, action: "pull", repository: "x/y", detail: {} });
    stop();
    bus.record({ actor, action: "pull", repository: "x/z", detail: {} });
    expect(seen).toEqual(["pull x/y string true"]);
  });
});

describe("metrics", () => {
  const driver = (fail: Error): StorageDriver =>
    ({
      name: "fake",
      stat: async () => {
        throw fail;
      },
      reader: async () => Readable.from([]),
      getContent: async () => Buffer.alloc(0),
      putContent: async () => undefined,
      writer: async () => ({ size: 0, append: async () => { throw fail; }, suspend: async () => ({ size: 0 }), checkpoint: () => ({ size: 0 }), commit: async () => undefined, cancel: async () => undefined }),
      move: async () => undefined,
      delete: async () => undefined,
      async *list() {
        yield "a";
        throw fail;
      },
    }) as StorageDriver;

  it("counts storage failures by operation, but not 'not found'", async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const failing = instrumentStorage(driver(new Error("disk on fire")), metrics);
    await expect(failing.stat("x")).rejects.toThrow("disk on fire");
    await expect((await failing.writer("x")).append(Readable.from([]))).rejects.toThrow();
    await expect((async () => { for await (const _ of failing.list("")) void _; })()).rejects.toThrow();
    await expect(instrumentStorage(driver(new PathNotFoundError("x")), metrics).stat("x")).rejects.toThrow(PathNotFoundError);
    const text = await metrics.registry.metrics();
    expect(text).toContain('berth_storage_errors_total{driver="fake",operation="stat"} 1');
    expect(text).toContain('berth_storage_errors_total{driver="fake",operation="writer.append"} 1');
    expect(text).toContain('berth_storage_errors_total{driver="fake",operation="list"} 1');
  });

  it("offers create-or-get helpers, collectors and the GC hook", async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const a = metrics.counter("things_total", "things");
    expect(metrics.counter("things_total", "things")).toBe(a);
    const g = metrics.gauge("queue", "queue");
    metrics.onCollect(() => g.set(7));
    metrics.onCollect(() => {
      throw new Error("broken collector");
    });
    metrics.gc.runFinished({ dryRun: false, durationSeconds: 1.5, manifestsDeleted: 2, blobsDeleted: 3, bytesFreed: 4096 });
    metrics.gc.runFinished({ dryRun: true, durationSeconds: 1, manifestsDeleted: 9, blobsDeleted: 9, bytesFreed: 9 });
    const errors: unknown[] = [];
    const { body } = await metrics.render((err) => errors.push(err));
    expect(errors).toHaveLength(1);
    expect(body).toContain("berth_queue 7");
    expect(body).toContain('berth_gc_runs_total{outcome="success"} 1');
    expect(body).toContain('berth_gc_runs_total{outcome="dry_run"} 1');
    expect(body).toContain("berth_gc_blobs_deleted_total 3");
    expect(body).toContain("berth_gc_bytes_freed_total 4096");
  });

  it("recognises database errors through their causes", () => {
    class PrismaClientKnownRequestError extends Error {}
    expect(isDatabaseError(new PrismaClientKnownRequestError("x"))).toBe(true);
    expect(isDatabaseError(new Error("wrapped", { cause: Object.assign(new Error("x"), { name: "DriverAdapterError" }) }))).toBe(true);
    expect(isDatabaseError(new Error("plain"))).toBe(false);
    expect(isDatabaseError(new PathNotFoundError("p"))).toBe(false);
  });
});
