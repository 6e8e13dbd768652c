// The audit log keeps every event it can (issue 14): what a client sends is made storable (Postgres refuses
// NUL and lone surrogates in text and jsonb), and an event the database still refuses is retried alone,
// counted in /metrics, and never takes the other events of its batch with it.
import { randomBytes } from "node:crypto";
import type { BerthEvent } from "../../src/events/event-bus";
import { ADMIN_PASSWORD, basic, startAuthRegistry, uniqueName } from "../support/auth-helpers";
import type { TestRegistry } from "../support/registry";

jest.setTimeout(120_000);

let registry: TestRegistry;

beforeAll(async () => {
  registry = await startAuthRegistry();
});

afterAll(async () => {
  await registry?.stop();
});

const actor = { kind: "user" as const, name: "alice", address: "198.51.100.7" };

async function failuresCounted(): Promise<number> {
  const metric = await registry.deps.metrics.registry.getSingleMetric("berth_audit_write_failures_total")?.get();
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}

test("NUL and lone surrogates anywhere in an event are stored visibly, and the batch's other events with them", async () => {
  const repo = uniqueName("audit");
  const { events, audit } = registry.deps;
  events.record({ action: "pull", actor, repository: `${repo}/before`, reference: "latest", detail: {} });
  events.record({
    action: "token",
    actor: { kind: "anonymous", name: "anon\u0000ymous", address: "203.0.113.1\u0000" },
    repository: `${repo}/x\u0000`,
    reference: "tag\ud800",
    detail: { scope: [`repository:${repo}/x\u0000:pull`, "bad\udc00"], ["key\u0000"]: { deeper: ["\u0000"] } } as never,
  });
  events.record({ action: "pull", actor, repository: `${repo}/after`, reference: "latest", detail: {} });
  await audit.flush();

  const before = await audit.query({ repository: `${repo}/before`, limit: 10 });
  const after = await audit.query({ repository: `${repo}/after`, limit: 10 });
  const hostile = await audit.query({ repository: `${repo}/x\u2400`, limit: 10 });
  expect(before).toHaveLength(1);
  expect(after).toHaveLength(1);
  expect(hostile).toHaveLength(1);
  expect(hostile[0]).toMatchObject({
    actor: "anon\u2400ymous",
    clientIp: "203.0.113.1\u2400",
    reference: "tag\uFFFD",
    detail: { scope: [`repository:${repo}/x\u2400:pull`, "bad\uFFFD"], ["key\u2400"]: { deeper: ["\u2400"] } },
  });
});

test("an event the database refuses even alone is counted, and the others of its batch are written", async () => {
  const repo = uniqueName("audit");
  const { events, audit } = registry.deps;
  const counted = await failuresCounted();
  events.record({ action: "pull", actor, repository: `${repo}/one`, reference: "latest", detail: {} });
  // A time out of Postgres's range (a clock gone wrong): no sanitising makes it storable, so the batch
  // fails and so does the retry of this event alone.
  const unwritable: BerthEvent = { action: "pull", actor, repository: `${repo}/bad`, reference: "latest", detail: {}, id: "x", timestamp: new Date(-8.64e15) };
  audit.handle(unwritable);
  events.record({ action: "push", actor, repository: `${repo}/two`, reference: "latest", detail: { digest: "sha256:" + "0".repeat(64) } });
  await audit.flush();

  expect(await audit.query({ repository: `${repo}/one`, limit: 10 })).toHaveLength(1);
  expect(await audit.query({ repository: `${repo}/two`, limit: 10 })).toHaveLength(1);
  expect(await audit.query({ repository: `${repo}/bad`, limit: 10 })).toHaveLength(0);
  expect(await failuresCounted()).toBe(counted + 1);
  const scraped = await (await fetch(`${registry.url}/metrics`, { headers: { Authorization: basic("admin", ADMIN_PASSWORD) } })).text();
  expect(scraped).toMatch(/^berth_audit_write_failures_total [1-9]/m);
});

test("a failed login with an 8 KB random username is still recorded (indexed columns are bounded)", async () => {
  const username = randomBytes(6000).toString("base64");
  const res = await fetch(`${registry.url}/v2/`, { headers: { Authorization: basic(username, "x") } });
  expect(res.status).toBe(401);
  await registry.deps.audit.flush();
  const logins = await registry.deps.audit.query({ actor: username.slice(0, 512), action: "login", limit: 10 });
  expect(logins).toHaveLength(1);
  expect(logins[0].success).toBe(false);
});

test("the NUL scope attack on /token is refused at the boundary and leaves others' events intact", async () => {
  const repo = uniqueName("audit");
  const res = await fetch(`${registry.url}/token?service=berth&scope=repository:${repo}/x%00:pull`);
  expect(res.status).toBe(400);
  expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0].code).toBe("INVALID_REQUEST");
  const ok = await fetch(`${registry.url}/token?service=berth&scope=repository:${repo}/y:pull`, { headers: { Authorization: basic("admin", ADMIN_PASSWORD) } });
  expect(ok.status).toBe(200);
  await registry.deps.audit.flush();
  const tokens = await registry.deps.audit.query({ actor: "admin", action: "token", limit: 50 });
  expect(tokens.some((e) => JSON.stringify(e.detail).includes(`${repo}/y`))).toBe(true);
});

test("a NUL in Basic credentials is a failed login (401), on /v2, /token and the admin API", async () => {
  const creds = { Authorization: basic("ad\u0000min", ADMIN_PASSWORD) };
  for (const url of ["/v2/", "/token?service=berth", "/api/v1/users"]) {
    const res = await fetch(`${registry.url}${url}`, { headers: creds });
    expect([url, res.status]).toEqual([url, 401]);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  }
});
