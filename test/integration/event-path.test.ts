// One event path (issue 13): what is done in the web UI, the admin API, the CLI and by the garbage collector
// is recorded once on the event bus. The audit log has every action with the acting principal and the client
// address (resolved through a trusted proxy); UI deletes, copies and imports reach a webhook receiver as the
// registry events they amount to, exactly as pushes and deletes on /v2 do; admin actions do not.
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ADMIN_PASSWORD, runBerth, startAuthRegistry, uniqueName } from "../support/auth-helpers";
import { buildImage, uniqueSuffix } from "../support/oci-client";
import type { TestRegistry } from "../support/registry";
import { headersFor, login, seedImage, tarOf, type Session } from "../support/web-client";

jest.setTimeout(120_000);

interface Delivered {
  action: string;
  target: { repository: string; tag?: string; digest?: string; mediaType?: string };
  request: { addr: string };
  actor: { name?: string };
}

/** A webhook receiver on 127.0.0.1 that hands each delivered event to whoever waits for one like it. */
async function startReceiver() {
  const events: Delivered[] = [];
  const waiters: Array<{ match: (e: Delivered) => boolean; resolve: (e: Delivered) => void }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      for (const event of (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: Delivered[] }).events) {
        events.push(event);
        for (const w of waiters.filter((w) => w.match(event))) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    events,
    /** The first event delivered that matches; fails after `timeoutMs` (deliveries take milliseconds here). */
    next(match: (e: Delivered) => boolean, timeoutMs = 15_000): Promise<Delivered> {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching event delivered; got ${JSON.stringify(events.map((e) => [e.action, e.target]))}`)), timeoutMs);
        waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The address the (trusted, loopback) proxy says the client has. */
const CLIENT = "203.0.113.9";

let registry: TestRegistry;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let admin: Session;

beforeAll(async () => {
  receiver = await startReceiver();
  registry = await startAuthRegistry({
    config: { trustedProxies: ["loopback"], notifications: { endpoints: [{ name: "all", url: receiver.url, backoffSeconds: 0.05 }] } },
  });
  admin = await login(registry.url, "admin", ADMIN_PASSWORD);
});

afterAll(async () => {
  await registry?.stop();
  await receiver?.close();
});

/** A call from the admin's browser session, through the proxy. */
function call(method: string, path: string, body?: unknown | FormData): Promise<Response> {
  const form = body instanceof FormData;
  const headers = headersFor(admin, { "X-Forwarded-For": CLIENT, ...(body !== undefined && !form ? { "Content-Type": "application/json" } : {}) });
  return fetch(`${registry.url}${path}`, { method, headers, body: form ? body : body === undefined ? undefined : JSON.stringify(body) });
}

async function expectStatus(res: Response, status: number): Promise<Response> {
  expect({ status: res.status, body: res.status === status ? "" : await res.text() }).toEqual({ status, body: "" });
  return res;
}

const audited = (query: { action?: string; repository?: string; actor?: string }) => registry.deps.audit.query({ ...query, limit: 1000 });

describe("web UI actions are registry events", () => {
  const repo = `ui-${uniqueSuffix()}/app`;

  beforeAll(async () => {
    await registry.deps.auth.accounts.addProject(repo.split("/")[0]);
    await seedImage(registry.deps, repo, buildImage({ layers: 1 }), "1.0");
  });

  test("a copy reaches the webhook receiver and the audit log, once", async () => {
    const copied = (await (await expectStatus(await call("POST", `/api/v1/repositories/${repo}/-/copy`, { reference: "1.0", tag: "copied" }), 201)).json()) as { digest: string };
    const delivered = await receiver.next((e) => e.action === "push" && e.target.repository === repo && e.target.tag === "copied");
    expect(delivered).toMatchObject({ target: { digest: copied.digest, mediaType: expect.any(String) }, request: { addr: CLIENT }, actor: { name: "admin" } });
    const events = (await audited({ action: "push", repository: repo })).filter((e) => e.reference === "copied");
    expect(events).toEqual([expect.objectContaining({ actor: "admin", clientIp: CLIENT, detail: expect.objectContaining({ via: "web", digest: copied.digest, copiedFrom: `${repo}@${copied.digest}` }) })]);
  });

  test("a tag delete reaches the webhook receiver and the audit log", async () => {
    await expectStatus(await call("POST", `/api/v1/repositories/${repo}/-/copy`, { reference: "1.0", tag: "doomed" }), 201);
    await expectStatus(await call("DELETE", `/api/v1/repositories/${repo}/-/tags/doomed`), 204);
    const delivered = await receiver.next((e) => e.action === "delete" && e.target.repository === repo && e.target.tag === "doomed");
    expect(delivered).toMatchObject({ request: { addr: CLIENT }, actor: { name: "admin" } });
    expect(await audited({ action: "delete", repository: repo })).toEqual([
      expect.objectContaining({ actor: "admin", reference: "doomed", clientIp: CLIENT, detail: { via: "web" } }),
    ]);
  });

  test("an imported image reaches the webhook receiver and the audit log", async () => {
    const layer = Buffer.from(`layer bytes ${uniqueSuffix()}`);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: uniqueSuffix() }));
    const configName = `${createHash("sha256").update(config).digest("hex")}.json`;
    const archive = await tarOf([
      { name: "l/layer.tar", data: layer },
      { name: configName, data: config },
      { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ["example.test/app:imported"], Layers: ["l/layer.tar"] }])) },
    ]);
    const form = new FormData();
    form.append("file", new Blob([archive]), "image.tar");
    const result = (await (await expectStatus(await call("POST", `/api/v1/repositories/${repo}/-/import`, form), 201)).json()) as { images: Array<{ digest: string }> };
    const delivered = await receiver.next((e) => e.action === "push" && e.target.repository === repo && e.target.tag === "imported");
    expect(delivered).toMatchObject({ target: { digest: result.images[0].digest }, request: { addr: CLIENT }, actor: { name: "admin" } });
    expect((await audited({ action: "push", repository: repo })).filter((e) => e.reference === "imported")).toEqual([
      expect.objectContaining({ actor: "admin", clientIp: CLIENT, detail: expect.objectContaining({ via: "web", import: "docker-save", digest: result.images[0].digest }) }),
    ]);
  });
});

describe("admin actions are in the audit log with principal and client address, and not sent to webhooks", () => {
  test("users, robots, projects, members, rules and GC runs", async () => {
    const user = uniqueName("evt-user");
    const project = uniqueName("evt-project");
    const robot = uniqueName("evt-robot");
    await expectStatus(await call("POST", "/api/v1/users", { username: user, password: "long-enough-pw" }), 201);
    await expectStatus(await call("PATCH", `/api/v1/users/${user}`, { disabled: true }), 200);
    await expectStatus(await call("POST", "/api/v1/projects", { name: project }), 201);
    await expectStatus(await call("PATCH", `/api/v1/projects/${project}`, { public: true }), 200);
    await expectStatus(await call("PATCH", `/api/v1/projects/${project}`, { quota: "1GiB" }), 200);
    await expectStatus(await call("PUT", `/api/v1/projects/${project}/members/${user}`, { role: "developer" }), 204);
    await expectStatus(await call("POST", "/api/v1/robots", { name: robot, permissions: [{ project, actions: ["pull"] }] }), 201);
    const rule = (await (await expectStatus(await call("POST", `/api/v1/projects/${project}/rules`, { kind: "immutable", tags: ["release-*"] }), 201)).json()) as { id: number };
    const dryRun = await expectStatus(await call("POST", "/api/v1/gc/dry-run"), 200);
    await dryRun.arrayBuffer();

    // "admin" names every admin action in the audit API's filter.
    const events = (await (await expectStatus(await call("GET", "/api/v1/audit?action=admin&actor=admin&limit=1000"), 200)).json()) as Array<{
      action: string;
      reference: string;
      detail: unknown;
    }>;
    const mine = (reference: string, action: string) => events.filter((e) => e.reference === reference && e.action === action);
    const byAdmin = { actor: "admin", clientIp: CLIENT, success: true };
    expect(mine(`user ${user}`, "user.created")).toEqual([expect.objectContaining({ ...byAdmin, detail: { isAdmin: false } })]);
    expect(mine(`user ${user}`, "user.disabled")).toEqual([expect.objectContaining(byAdmin)]);
    expect(mine(`project ${project}`, "project.created")).toEqual([expect.objectContaining({ ...byAdmin, detail: { public: false, owner: null } })]);
    expect(mine(`project ${project}`, "project.visibility_changed")).toEqual([expect.objectContaining({ ...byAdmin, detail: { public: true } })]);
    expect(mine(`project ${project}`, "project.quota_changed")).toEqual([expect.objectContaining({ ...byAdmin, detail: { quotaBytes: 1024 ** 3 } })]);
    expect(mine(`user ${user}`, "member.set")).toEqual([expect.objectContaining({ ...byAdmin, detail: { project, role: "developer" } })]);
    expect(mine(`robot robot$${robot}`, "robot.created")).toEqual([
      expect.objectContaining({ ...byAdmin, detail: { permissions: [{ project, actions: ["pull"] }], expiresAt: null } }),
    ]);
    expect(mine(`rule ${rule.id}`, "rule.created")).toEqual([expect.objectContaining({ ...byAdmin, detail: expect.objectContaining({ project, kind: "immutable" }) })]);
    const gcRuns = events.filter((e) => e.action === "gc.run");
    expect(gcRuns).toEqual([expect.objectContaining({ ...byAdmin, detail: expect.objectContaining({ trigger: "api", dryRun: true, status: "succeeded" }) })]);

    // Deliveries to one endpoint keep their order: once a later registry event has arrived, any admin event
    // recorded before it would have arrived too.
    const marker = `ui-${uniqueSuffix()}/marker`;
    await registry.deps.auth.accounts.addProject(marker.split("/")[0]);
    await seedImage(registry.deps, marker, buildImage({ layers: 1 }), "1.0");
    await expectStatus(await call("DELETE", `/api/v1/repositories/${marker}/-/tags/1.0`), 204);
    await receiver.next((e) => e.target.repository === marker);
    expect(receiver.events.filter((e) => !["push", "pull", "delete"].includes(e.action))).toEqual([]);
  });

  test("a collection Berth starts itself is recorded as the system's, from the local host", async () => {
    const report = await registry.deps.gc.collect({ trigger: "schedule", dryRun: true });
    const runs = (await audited({ action: "gc.run", actor: "system:gc" })).filter((e) => e.reference === `gc run ${report.runId}`);
    expect(runs).toEqual([expect.objectContaining({ clientIp: "local", detail: expect.objectContaining({ trigger: "schedule", dryRun: true, runId: report.runId }) })]);
  });
});

test("signing out of the web UI is recorded", async () => {
  const session = await login(registry.url, "admin", ADMIN_PASSWORD);
  await expectStatus(await fetch(`${registry.url}/api/v1/session`, { method: "DELETE", headers: headersFor(session, { "X-Forwarded-For": CLIENT }) }), 204);
  expect(await audited({ action: "logout", actor: "admin" })).toEqual([expect.objectContaining({ clientIp: CLIENT })]);
});

describe("CLI actions", () => {
  test("berth user add and berth gc --dry-run land in the audit log as the CLI's", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: registry.deps.config.databaseUrl, BERTH_DATA_DIR: registry.dataDir, BERTH_LOG_LEVEL: "silent", BERTH_STORAGE_FSYNC: "false" };
    for (const key of ["BERTH_CONFIG", "BERTH_AUTH", "BERTH_SIGNING_KEY_FILE"]) delete env[key];
    const user = uniqueName("cli-user");
    expect(await runBerth(["user", "add", user, "--password", "cli-user-password"], { env })).toMatchObject({ code: 0, stderr: "" });
    expect(await runBerth(["gc", "--dry-run", "--json"], { env })).toMatchObject({ code: 0 });

    const events = await audited({ actor: "system:cli" });
    expect(events.filter((e) => e.reference === `user ${user}`)).toEqual([expect.objectContaining({ action: "user.created", clientIp: "cli", detail: { isAdmin: false } })]);
    expect(events.filter((e) => e.action === "gc.run")).toEqual([expect.objectContaining({ clientIp: "cli", detail: expect.objectContaining({ trigger: "cli", dryRun: true }) })]);
  });
});
