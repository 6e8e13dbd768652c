// GC that explains itself (issue 15): every dry run and run says what the grace period held back; the
// history keeps a dry run's figures; a run's log of what it deleted downloads as NDJSON or CSV; the GC
// settings set through the API are stored in Postgres and in force on a second replica within seconds,
// with the configured value as the default; bad values are a 400 naming the field. Two Berth replicas
// share one PostgreSQL database.
import { waitFor } from "../support/wait-for";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import type { TestRegistry } from "../support/registry";
import { ADMIN_PASSWORD, basic, pushImageAs, startAuthRegistry, uniqueName } from "../support/auth-helpers";
import { buildImage, type BuiltImage } from "../support/oci-client";
import type { GcLogEntry, GcReport, GcRun, GcSettings } from "../../src/admin/gc-types";

jest.setTimeout(120_000);

const ADMIN = basic("admin", ADMIN_PASSWORD);
const HOUR = 3_600_000;
/** Generous: the other replica hears the change from Postgres in milliseconds. */
const PROPAGATION_LIMIT_MS = 15_000;

let database: TestDatabase;
let a: TestRegistry;
let b: TestRegistry;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = { databaseUrl: database.url };
  a = await startAuthRegistry({ config });
  b = await startAuthRegistry({ config });
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
  await database?.drop();
});

function api(base: string, method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Authorization: ADMIN };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function json<T>(res: Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  expect({ status: r.status, text: r.status === status ? "" : text }).toEqual({ status, text: "" });
  return JSON.parse(text) as T;
}

const settingsOf = (base: string) => json<GcSettings>(api(base, "GET", "/gc/settings"));
const blobBytes = (img: BuiltImage, except: BuiltImage) => {
  const kept = new Set([except.config, ...except.layers].map((x) => x.descriptor.digest));
  return [img.config, ...img.layers].filter((x) => !kept.has(x.descriptor.digest));
};

/** Two images in a fresh repository, then tag v1 deleted: v1's manifest and its own blobs are garbage. */
async function untaggedImage(): Promise<{ repo: string; gone: BuiltImage; blobs: number; bytes: number }> {
  const repo = `${uniqueName("gcx")}/app`;
  const gone = await pushImageAs(a.url, repo, "v1", ADMIN, buildImage({ layers: 2, layerSize: 300 }));
  const stays = await pushImageAs(a.url, repo, "v2", ADMIN, buildImage({ layers: 1, layerSize: 200 }));
  const res = await api(a.url, "DELETE", `/repositories/${repo}/-/tags/v1`);
  expect(res.status).toBe(204);
  const own = blobBytes(gone, stays);
  return { repo, gone, blobs: own.length, bytes: own.reduce((n, x) => n + x.data.length, 0) };
}

/** Makes everything in the database older than the default grace, as an hour's wait would. */
async function ageEverything(): Promise<void> {
  for (const sql of [
    `UPDATE manifest SET created_at = now() - interval '2 hours'`,
    `UPDATE blob SET last_touched_at = now() - interval '2 hours'`,
    `UPDATE repository_blob SET created_at = now() - interval '2 hours'`,
  ]) {
    await a.deps.database.query(sql);
  }
}

describe("what the grace period held back", () => {
  it("a dry run right after deleting a tag reports nothing due and the untagged image held back, with the grace", async () => {
    const { gone, blobs, bytes } = await untaggedImage();
    const dry = await json<GcReport>(api(a.url, "POST", "/gc/dry-run"));
    expect(dry).toMatchObject({ dryRun: true, graceMs: HOUR, manifestsDeleted: 0, blobsDeleted: 0, bytesFreed: 0 });
    expect(dry.heldBack).toMatchObject({ graceMs: HOUR, manifests: 1, manifestBytes: gone.bytes.length, blobs, blobBytes: bytes });
    // The history keeps the same figures for that run.
    const history = await json<GcRun[]>(api(a.url, "GET", "/gc/runs?limit=5"));
    expect(history.find((r) => r.id === dry.runId)).toMatchObject({ dryRun: true, graceMs: HOUR, heldBack: dry.heldBack });
  });

  it("the history keeps what a dry run would delete (not zeros); the real run's log lists what went", async () => {
    const { repo, gone, blobs, bytes } = await untaggedImage();
    await ageEverything();
    const dry = await json<GcReport>(api(a.url, "POST", "/gc/dry-run"));
    expect(dry.manifestsDeleted).toBeGreaterThanOrEqual(1);
    expect(dry.blobsDeleted).toBeGreaterThanOrEqual(blobs);
    expect(dry.bytesFreed).toBeGreaterThanOrEqual(bytes);
    const history = await json<GcRun[]>(api(b.url, "GET", "/gc/runs?limit=5"));
    expect(history.find((r) => r.id === dry.runId)).toMatchObject({
      dryRun: true,
      manifestsDeleted: dry.manifestsDeleted,
      blobsDeleted: dry.blobsDeleted,
      bytesFreed: dry.bytesFreed,
    });
    // A dry run deleted nothing: its log is empty.
    const dryLog = await fetch(`${a.url}/api/v1/gc/runs/${dry.runId}/log`, { headers: { Authorization: ADMIN } });
    expect(dryLog.status).toBe(200);
    expect(await dryLog.text()).toBe("");

    const run = await json<GcReport>(api(a.url, "POST", "/gc/runs"));
    expect(run).toMatchObject({ dryRun: false, manifestsDeleted: dry.manifestsDeleted, blobsDeleted: dry.blobsDeleted, bytesFreed: dry.bytesFreed });

    const res = await fetch(`${b.url}/api/v1/gc/runs/${run.runId}/log`, { headers: { Authorization: ADMIN } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="berth-gc-run-${run.runId}.ndjson"`);
    const entries = (await res.text()).trim().split("\n").map((line) => JSON.parse(line) as GcLogEntry);
    expect(entries).toContainEqual({ kind: "manifest", repository: repo, digest: gone.digest, tag: null, bytes: gone.bytes.length });
    for (const blob of blobBytes(gone, gone)) {
      const digest = blob.descriptor.digest;
      if (entries.some((e) => e.kind === "blob" && e.digest === digest)) {
        expect(entries).toContainEqual({ kind: "blob", repository: null, digest, tag: null, bytes: blob.data.length });
      }
    }
    // The log adds up to the run's figures.
    expect(entries.filter((e) => e.kind === "manifest")).toHaveLength(run.manifestsDeleted);
    expect(entries.filter((e) => e.kind === "blob")).toHaveLength(run.blobsDeleted);
    expect(entries.filter((e) => e.kind === "blob" || e.kind === "upload").reduce((n, e) => n + e.bytes, 0)).toBe(run.bytesFreed);

    const csv = await fetch(`${a.url}/api/v1/gc/runs/${run.runId}/log?format=csv`, { headers: { Authorization: ADMIN } });
    expect(csv.headers.get("content-disposition")).toBe(`attachment; filename="berth-gc-run-${run.runId}.csv"`);
    const lines = (await csv.text()).trim().split("\r\n");
    expect(lines[0]).toBe("kind,repository,digest,tag,bytes");
    expect(lines).toContain(`manifest,${repo},${gone.digest},,${gone.bytes.length}`);
    expect(lines).toHaveLength(entries.length + 1);
  });

  it("log requests for no run, a bad id or a bad format are clear errors", async () => {
    expect((await api(a.url, "GET", "/gc/runs/999999/log")).status).toBe(404);
    const bad = await api(a.url, "GET", "/gc/runs/abc/log");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errors: [{ code: "INVALID_REQUEST" }] });
    const format = await api(a.url, "GET", "/gc/runs/1/log?format=xml");
    expect(format.status).toBe(400);
    expect(JSON.stringify(await format.json())).toContain("format");
    expect((await fetch(`${a.url}/api/v1/gc/runs/1/log`)).status).toBe(401);
  });
});

describe("GC settings in the database", () => {
  afterEach(async () => {
    await json(api(a.url, "PUT", "/gc/settings", { grace: null, untagged: null, schedule: null }));
  });

  it("shows the configured values as defaults, stores a change, and the other replica uses it within seconds", async () => {
    const before = await settingsOf(b.url);
    expect(before).toMatchObject({
      grace: { value: HOUR, default: HOUR, text: "1h", source: "config" },
      untagged: { value: true, default: true, source: "config" },
      schedule: { value: null, default: null, source: "config" },
    });

    const changed = await json<GcSettings>(api(a.url, "PUT", "/gc/settings", { grace: "0", schedule: "0 3 * * *", untagged: false }));
    expect(changed).toMatchObject({
      grace: { value: 0, default: HOUR, source: "ui", updatedBy: "admin" },
      schedule: { value: "0 3 * * *", source: "ui" },
      untagged: { value: false, source: "ui" },
    });
    const rows = await a.deps.database.query<{ key: string; value: unknown }>(`SELECT key, value FROM setting ORDER BY key`);
    expect(rows).toEqual([
      { key: "gc.grace", value: 0 },
      { key: "gc.schedule", value: "0 3 * * *" },
      { key: "gc.untagged", value: false },
    ]);

    await waitFor("replica b using the new grace", async () => (await settingsOf(b.url)).grace.value === 0, { timeoutMs: PROPAGATION_LIMIT_MS });
    const dry = await json<GcReport>(api(b.url, "POST", "/gc/dry-run"));
    expect(dry).toMatchObject({ graceMs: 0, untagged: false });

    // Reset: back to the configured value, on both replicas.
    const reset = await json<GcSettings>(api(b.url, "PUT", "/gc/settings", { grace: null }));
    expect(reset.grace).toMatchObject({ value: HOUR, source: "config", updatedBy: null });
    await waitFor("replica a back on the configured grace", async () => (await settingsOf(a.url)).grace.source === "config", { timeoutMs: PROPAGATION_LIMIT_MS });
    expect((await settingsOf(a.url)).untagged).toMatchObject({ value: false, source: "ui" });
  });

  it("a schedule set in the UI is armed on a replica that runs the schedule, and disarmed when switched off", async () => {
    await waitFor("replica b without a schedule", async () => (await settingsOf(b.url)).schedule.value === null, { timeoutMs: PROPAGATION_LIMIT_MS });
    expect(b.deps.gc.startSchedule()).toBeNull();
    await json(api(a.url, "PUT", "/gc/settings", { schedule: "@every 6h" }));
    const next = await waitFor("replica b arming the schedule", async () => (await settingsOf(b.url)).nextRun, { timeoutMs: PROPAGATION_LIMIT_MS });
    expect(new Date(next).getTime()).toBeGreaterThan(Date.now() + 5 * HOUR);
    await json(api(a.url, "PUT", "/gc/settings", { schedule: "" }));
    await waitFor("replica b disarming the schedule", async () => (await settingsOf(b.url)).nextRun === null, { timeoutMs: PROPAGATION_LIMIT_MS });
    expect((await settingsOf(b.url)).schedule).toMatchObject({ value: null, source: "ui" });
  });

  it("every change is an admin event the audit log shows", async () => {
    await json(api(a.url, "PUT", "/gc/settings", { grace: "2h30m" }));
    await json(api(a.url, "PUT", "/gc/settings", { grace: null }));
    await a.deps.audit.flush();
    const events = await json<Array<{ action: string; actor: string; detail: Record<string, unknown> }>>(api(a.url, "GET", "/audit?action=setting.changed"));
    expect(events.slice(0, 2).map((e) => e.actor)).toEqual(["admin", "admin"]);
    expect(events.slice(0, 2).map((e) => e.detail)).toEqual([
      { key: "gc.grace", value: HOUR, reset: true },
      { key: "gc.grace", value: 2.5 * HOUR },
    ]);
  });

  it.each([
    [{ grace: "banana" }, "grace"],
    [{ grace: "-1h" }, "grace"],
    [{ grace: -5 }, "grace"],
    [{ grace: "400d" }, "grace"],
    [{ schedule: "61 * * * *" }, "schedule"],
    [{ schedule: "* * * * * *" }, "schedule"],
    [{ schedule: "@every 10ms" }, "schedule"],
    [{ schedule: "0 0 31 2 *" }, "schedule"],
    [{ untagged: "yes" }, "untagged"],
    [{ retention: false }, "retention"],
    [{ grace: "1h\u0000" }, "grace"],
  ])("refuses %j with a 400 naming %s, and changes nothing", async (body, field) => {
    const res = await api(a.url, "PUT", "/gc/settings", body);
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { errors: Array<{ code: string; message: string; detail?: unknown }> };
    expect(answer.errors[0].code).toBe("INVALID_REQUEST");
    expect(JSON.stringify(answer.errors[0])).toContain(field);
    const after = await settingsOf(a.url);
    expect([after.grace.source, after.schedule.source]).toEqual(["config", "config"]);
  });

  it("a stored schedule that never comes due turns scheduling off, says why, and stops no replica from starting", async () => {
    // As stored before the API refused it: every start used to die arming it.
    await a.deps.database.query(`INSERT INTO setting (key, value) VALUES ('gc.schedule', '"0 0 31 2 *"')`);
    const view = await waitFor("replica b reading the row", async () => {
      const v = await settingsOf(b.url);
      return v.schedule.error ? v : null;
    }, { timeoutMs: PROPAGATION_LIMIT_MS });
    expect(view.schedule).toMatchObject({ value: null, source: "ui", error: expect.stringMatching(/never comes due.*scheduled garbage collection is off/) });
    expect(view.nextRun).toBeNull();
    expect(() => b.deps.gc.startSchedule()).not.toThrow();
    expect(b.deps.gc.nextScheduledRun()).toBeNull();
    const c = await startAuthRegistry({ config: { databaseUrl: database.url } });
    try {
      expect(c.deps.gc.startSchedule()).toBeNull();
      // Setting a good schedule arms it again.
      await json(api(a.url, "PUT", "/gc/settings", { schedule: "@every 6h" }));
      await waitFor("replica c arming the fixed schedule", async () => c.deps.gc.nextScheduledRun(), { timeoutMs: PROPAGATION_LIMIT_MS });
      expect((await settingsOf(c.url)).schedule.error).toBeUndefined();
    } finally {
      await c.stop();
    }
  });

  it("ignores a value written by hand in SQL that is not of the right type", async () => {
    await a.deps.database.query(
      `INSERT INTO setting (key, value) VALUES ('gc.grace', '"soon"'), ('gc.schedule', '"61 * * * *"'), ('gc.untagged', 'false')`,
    );
    // The valid row shows replica b has read them all.
    const view = await waitFor("replica b reading the rows", async () => {
      const v = await settingsOf(b.url);
      return v.untagged.value === false ? v : null;
    }, { timeoutMs: PROPAGATION_LIMIT_MS });
    expect(view.grace).toMatchObject({ value: HOUR, source: "config" });
    // A schedule that cannot be armed is not replaced by the configured one: scheduling is off, with the reason shown.
    expect(view.schedule).toMatchObject({ value: null, source: "ui", error: expect.stringContaining("minute field") });
    expect(b.deps.gc.settings.grace).toBe(HOUR);
  });

  it("refuses a body that is not JSON, and anyone but an administrator", async () => {
    const res = await fetch(`${a.url}/api/v1/gc/settings`, { method: "PUT", headers: { Authorization: ADMIN, "Content-Type": "application/json" }, body: "{grace" });
    expect(res.status).toBe(400);
    expect((await fetch(`${a.url}/api/v1/gc/settings`, { method: "PUT", body: "{}" })).status).toBe(401);
  });
});
