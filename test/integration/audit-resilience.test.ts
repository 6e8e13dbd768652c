// The audit log keeps every event it can (issue 14): what a client sends is made storable (Postgres refuses
// NUL and lone surrogates in text and jsonb), and an event the database still refuses is retried alone,
// counted in /metrics, and never takes the other events of its batch with it. A batch that fails because the
// database cannot be reached is kept whole and retried later, not written event by event.
import { randomBytes } from "node:crypto";
import type { BerthEvent } from "../../src/events/event-bus";
import { AuditLog } from "../../src/audit/audit-log";
import type { AuditStore } from "../../src/metadata/audit-store";
import { waitFor } from "../support/wait-for";
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

describe("a database that cannot be written to (an outage, not bad data)", () => {
  /**
   * The real audit store behind a switch: while `down`, every write fails as a refused connection does
   * (pg's ECONNREFUSED), before reaching the database; `inserts` records the size of every write tried.
   */
  function switchableStore(): { store: AuditStore; state: { down: boolean; inserts: number[] } } {
    const real = registry.deps.stores.audit;
    const state = { down: false, inserts: [] as number[] };
    const store: AuditStore = {
      insert: async (rows) => {
        state.inserts.push(rows.length);
        if (state.down) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED", errno: -111, syscall: "connect" });
        return real.insert(rows);
      },
      find: (filter) => real.find(filter),
    };
    return { store, state };
  }

  const event = (repository: string, timestamp = new Date()): BerthEvent => ({ action: "pull", actor, repository, reference: "latest", detail: {}, id: "x", timestamp });
  const written = async (repository: string) => (await registry.deps.stores.audit.find({ repository, limit: 10 })).length;

  test("a failed batch is kept whole (no event-by-event retry) and written once the database is back; a bad event in it is still isolated", async () => {
    const repo = uniqueName("outage");
    const { store, state } = switchableStore();
    let refused = 0;
    let dropped = 0;
    const log = new AuditLog(store, registry.deps.logger, { flushIntervalMs: 3_600_000, writeFailed: () => refused++, dropped: (n) => (dropped += n) });
    try {
      state.down = true;
      log.handle(event(`${repo}/one`));
      log.handle(event(`${repo}/bad`, new Date(-8.64e15)));
      log.handle(event(`${repo}/two`));
      await log.flush();
      await log.flush();
      // Two attempts, each of the whole batch: an outage is not retried row by row.
      expect(state.inserts).toEqual([3, 3]);
      expect(log.backlog).toBe(3);
      expect([refused, dropped]).toEqual([0, 0]);

      state.down = false;
      state.inserts = [];
      await log.flush();
      // Back: the batch fails for its data (the time out of range), so it is written event by event.
      expect(state.inserts).toEqual([3, 1, 1, 1]);
      expect(await written(`${repo}/one`)).toBe(1);
      expect(await written(`${repo}/two`)).toBe(1);
      expect(await written(`${repo}/bad`)).toBe(0);
      expect([refused, dropped, log.backlog]).toEqual([1, 0, 0]);
    } finally {
      await log.close();
    }
  });

  test("a backlog is written in batches of 1000: a bad event costs the event-by-event retry of its own batch only", async () => {
    const repo = uniqueName("outage");
    const { store, state } = switchableStore();
    let refused = 0;
    const log = new AuditLog(store, registry.deps.logger, { flushIntervalMs: 3_600_000, writeFailed: () => refused++ });
    try {
      state.down = true;
      for (let i = 0; i < 1500; i++) log.handle(i === 1200 ? event(`${repo}/bad`, new Date(-8.64e15)) : event(`${repo}/ok`));
      await log.flush();
      // One attempt started by the full queue (only one, however many events arrive), one by this flush:
      // each of the first batch only, whole.
      expect(state.inserts).toEqual([1000, 1000]);
      state.down = false;
      state.inserts = [];
      await log.flush();
      expect(state.inserts).toEqual([1000, 500, ...Array(500).fill(1)]);
      expect(refused).toBe(1);
      expect((await registry.deps.stores.audit.find({ repository: `${repo}/ok`, limit: 2000 })).length).toBe(1499);
    } finally {
      await log.close();
    }
  });

  test("the database going away in the middle of an event-by-event retry keeps the events not yet written", async () => {
    const repo = uniqueName("outage");
    const { store, state } = switchableStore();
    let refused = 0;
    const log = new AuditLog(store, registry.deps.logger, { flushIntervalMs: 3_600_000, writeFailed: () => refused++ });
    const inner = store.insert;
    try {
      log.handle(event(`${repo}/bad`, new Date(-8.64e15)));
      log.handle(event(`${repo}/one`));
      log.handle(event(`${repo}/two`));
      // The outage starts after the batch and the bad event have been tried alone.
      store.insert = async (rows) => {
        if (state.inserts.length === 2) state.down = true;
        return inner(rows);
      };
      await log.flush();
      expect(state.inserts).toEqual([3, 1, 1]);
      expect(refused).toBe(1);
      expect(log.backlog).toBe(2);
      state.down = false;
      await log.flush();
      expect(await written(`${repo}/one`)).toBe(1);
      expect(await written(`${repo}/two`)).toBe(1);
      expect([refused, log.backlog]).toEqual([1, 0]);
    } finally {
      await log.close();
    }
  });

  test("the timer retries a kept batch on its own; past maxPending the oldest events are dropped and counted", async () => {
    const repo = uniqueName("outage");
    const { store, state } = switchableStore();
    let dropped = 0;
    const log = new AuditLog(store, registry.deps.logger, { flushIntervalMs: 20, maxPending: 3, retry: { firstMs: 20, maxMs: 100 }, dropped: (n) => (dropped += n) });
    try {
      state.down = true;
      for (const name of ["a", "b", "c", "d", "e"]) log.handle(event(`${repo}/${name}`));
      expect(dropped).toBe(2);
      await waitFor("the timer to have tried the kept batch twice", () => state.inserts.length >= 2);
      expect(log.backlog).toBe(3);
      state.down = false;
      await waitFor("the timer to write the kept batch", () => log.backlog === 0 || null);
      await waitFor("the newest three to be in the database", async () => (await written(`${repo}/e`)) === 1 || null);
      expect(await Promise.all(["a", "b", "c", "d", "e"].map((n) => written(`${repo}/${n}`)))).toEqual([0, 0, 1, 1, 1]);
      expect(dropped).toBe(2);
    } finally {
      await log.close();
    }
  });

  test("events still unwritable at shutdown are counted as dropped in /metrics", async () => {
    const { store, state } = switchableStore();
    const metric = registry.deps.metrics.registry.getSingleMetric("berth_audit_events_dropped_total");
    expect(metric).toBeDefined();
    let dropped = 0;
    const log = new AuditLog(store, registry.deps.logger, { flushIntervalMs: 3_600_000, dropped: (n) => (dropped += n) });
    state.down = true;
    log.handle(event(uniqueName("outage")));
    await log.close();
    expect(dropped).toBe(1);
    const scraped = await (await fetch(`${registry.url}/metrics`, { headers: { Authorization: basic("admin", ADMIN_PASSWORD) } })).text();
    expect(scraped).toMatch(/^berth_audit_events_dropped_total \d/m);
  });
});
