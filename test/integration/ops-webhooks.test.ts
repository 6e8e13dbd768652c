// Webhook notifications end to end: pushes, pulls and deletes on a running Berth delivered to local
// receivers as CNCF-style envelopes, signed with HMAC-SHA256, retried with exponential backoff when the
// receiver fails, filtered per endpoint, and dropped (and counted) when a receiver never answers.
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { buildImage, pushImage, uniqueSuffix } from "../support/oci-client";
import { waitFor } from "../support/wait-for";

interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver that answers `failures` requests with 500 first, then 200. */
async function startReceiver(failures = 0): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  let remainingFailures = failures;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.statusCode = remainingFailures-- > 0 ? 500 : 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What a receiver does: recompute the HMAC over the raw body and compare in constant time. */
function verify(secret: string, body: string, header: string | string[] | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(String(header ?? ""));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

interface Envelope {
  events: Array<{
    id: string;
    timestamp: string;
    action: string;
    target: { mediaType?: string; size?: number; length?: number; digest?: string; repository: string; url?: string; tag?: string };
    request: { id: string; addr: string; host: string; method: string; useragent: string };
    actor: { name?: string };
    source: { addr: string; instanceID: string };
  }>;
}

const SECRET = "receiver-shared-secret";

describe("webhook notifications", () => {
  let flaky: Awaited<ReturnType<typeof startReceiver>>;
  let filtered: Awaited<ReturnType<typeof startReceiver>>;
  let registry: TestRegistry;
  let deadUrl: string;

  beforeAll(async () => {
    flaky = await startReceiver(2);
    filtered = await startReceiver();
    // A port nobody listens on: connection refused every time.
    const dead = await startReceiver();
    deadUrl = dead.url;
    await dead.close();
    registry = await startTestRegistry({
      config: {
        notifications: {
          endpoints: [
            { name: "flaky", url: flaky.url, secret: SECRET, backoffSeconds: 0.2, maxAttempts: 5, headers: { authorization: "Bearer receiver-token" } },
            { name: "deletes-only", url: filtered.url, actions: ["delete"], repositories: ["hooks/*"] },
            { name: "dead", url: deadUrl, maxAttempts: 2, backoffSeconds: 0.05, timeoutSeconds: 1 },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await registry?.stop();
    await flaky?.close();
    await filtered?.close();
  });

  it("delivers push, pull and delete events, retrying with backoff and signing every attempt", async () => {
    const repo = `hooks/app-${uniqueSuffix()}`;
    const image = buildImage({ layers: 1 });
    expect((await pushImage(registry.url, repo, image, "v1")).status).toBe(201);

    // The first delivery fails twice (500) and succeeds on the third attempt.
    await waitFor("three delivery attempts", () => flaky.received.length >= 3);
    const [first, second, third] = flaky.received;
    expect(new Set([first, second, third].map((r) => r.headers["x-berth-delivery"])).size).toBe(1);
    for (const attempt of [first, second, third]) {
      expect(attempt.body).toBe(first.body);
      expect(attempt.headers["content-type"]).toBe("application/vnd.docker.distribution.events.v1+json");
      expect(attempt.headers.authorization).toBe("Bearer receiver-token");
      expect(verify(SECRET, attempt.body, attempt.headers["x-berth-signature-256"])).toBe(true);
    }
    expect(verify("some-other-secret", first.body, first.headers["x-berth-signature-256"])).toBe(false);
    // Exponential backoff: about 0.2 s, then about 0.4 s.
    const gap1 = second.at - first.at;
    const gap2 = third.at - second.at;
    expect(gap1).toBeGreaterThanOrEqual(180);
    expect(gap2).toBeGreaterThanOrEqual(360);
    expect(gap2).toBeGreaterThan(gap1);

    const push = (JSON.parse(first.body) as Envelope).events[0];
    expect(push).toMatchObject({
      action: "push",
      target: {
        mediaType: image.mediaType,
        size: image.bytes.length,
        length: image.bytes.length,
        digest: image.digest,
        repository: repo,
        url: `${registry.url}/v2/${repo}/manifests/${image.digest}`,
        tag: "v1",
      },
      request: { method: "PUT", addr: "127.0.0.1", host: registry.host },
      actor: {},
    });
    expect(push.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(push.timestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(push.source.instanceID).toMatch(/^[0-9a-f-]{36}$/);

    // Pull and delete follow.
    const pulled = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, { headers: { accept: image.mediaType, "user-agent": "hook-test/1.0" } });
    expect(pulled.status).toBe(200);
    await pulled.arrayBuffer();
    expect((await fetch(`${registry.url}/v2/${repo}/manifests/${image.digest}`, { method: "DELETE" })).status).toBe(202);
    const events = await waitFor("pull and delete events", () => {
      const all = flaky.received.slice(3).flatMap((r) => (JSON.parse(r.body) as Envelope).events);
      return all.length >= 2 && all;
    });
    expect(events.map((e) => e.action)).toEqual(["pull", "delete"]);
    expect(events[0]).toMatchObject({ target: { digest: image.digest, tag: "v1", repository: repo }, request: { method: "GET", useragent: "hook-test/1.0" } });
    expect(events[1]).toMatchObject({ target: { digest: image.digest, repository: repo }, request: { method: "DELETE" } });
    expect(events[1].target.tag).toBeUndefined();

    // The filtered endpoint got only the delete (its actions), and the same event id.
    const onlyDelete = await waitFor("the filtered endpoint's delivery", () => filtered.received.length > 0 && filtered.received);
    const filteredEvents = onlyDelete.flatMap((r) => (JSON.parse(r.body) as Envelope).events);
    expect(filteredEvents.map((e) => [e.action, e.id])).toEqual([["delete", events[1].id]]);
    expect(onlyDelete[0].headers["x-berth-signature-256"]).toBeUndefined(); // no secret configured

    // The audit log heard the same events through the event bus.
    const audited = await registry.deps.audit.query({ repository: repo, limit: 10 });
    expect(audited.map((e) => e.action).sort()).toEqual(["delete", "pull", "push"]);
  });

  it("skips repositories outside an endpoint's patterns", async () => {
    const before = filtered.received.length;
    const image = buildImage({ layers: 1 });
    const repo = `elsewhere/app-${uniqueSuffix()}`;
    expect((await pushImage(registry.url, repo, image, "v1")).status).toBe(201);
    expect((await fetch(`${registry.url}/v2/${repo}/manifests/${image.digest}`, { method: "DELETE" })).status).toBe(202);
    // The flaky endpoint (no filter) sees both; the filtered one nothing.
    await waitFor("the unfiltered delivery", () => flaky.received.some((r) => r.body.includes(repo) && r.body.includes('"delete"')));
    expect(filtered.received.length).toBe(before);
  });

  it("gives up after maxAttempts on a dead receiver and counts the dropped events", async () => {
    const body = await waitFor("the dead receiver's event dropped", async () => {
      const text = await (await fetch(`${registry.url}/metrics`)).text();
      return /berth_notification_events_dropped_total\{endpoint="dead",reason="failed"\} [1-9]/.test(text) && text;
    });
    expect(body).toMatch(/berth_notification_events_dropped_total\{endpoint="dead",reason="failed"\} [1-9]/);
    expect(body).toMatch(/berth_notification_attempts_total\{endpoint="dead",outcome="failure"\} [1-9]/);
    expect(body).toMatch(/berth_notification_attempts_total\{endpoint="flaky",outcome="retry"\} 2/);
    expect(body).toMatch(/berth_notification_attempts_total\{endpoint="flaky",outcome="success"\} [1-9]/);
  });
});
