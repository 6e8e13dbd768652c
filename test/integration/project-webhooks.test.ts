// Webhooks per project, end to end on a running Berth with auth on: project admins manage their project's
// endpoints through /api/v1/projects/<p>/webhooks; pushes over /v2 and deletes through the web API reach
// a real local receiver, filtered per endpoint and signed; a disabled endpoint gets nothing; the send-test
// button and the delivery history report the receiver's status codes; the YAML endpoint is listed read
// only; deliveries to loopback are refused unless notifications.allowPrivateNetworks is set.
import type { BerthEvent } from "../../src/events/event-bus";
import { addUser, ADMIN_PASSWORD, pushImageAs, repositoryScope, startAuthRegistry, tokenFor, uniqueName, type Creds } from "../support/auth-helpers";
import type { TestRegistry } from "../support/registry";
import { api, login, type As, type Session } from "../support/web-client";
import { signatureVerifies, startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver";
import { waitFor } from "../support/wait-for";

const SECRET = "project-hook-secret-0123";
const ADMIN: As = { basic: ["admin", ADMIN_PASSWORD] };

interface Delivery {
  at: string;
  event: string;
  success: boolean;
  httpStatus: number | null;
  durationMs: number;
  error: string | null;
}
interface Endpoint {
  id: number;
  url: string;
  actions: string[];
  enabled: boolean;
  hasSecret: boolean;
  deliveries: Delivery[];
}
interface View {
  endpoints: Endpoint[];
  configured: Array<{ name: string; url: string; fromConfiguration: boolean }>;
}

async function json<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function createProject(registry: TestRegistry, admin: Creds): Promise<string> {
  const name = uniqueName("hooks");
  await json(await api(registry.url, "POST", "/api/v1/projects", ADMIN, { name }), 201);
  await json(await api(registry.url, "PUT", `/api/v1/projects/${name}/members/${admin.username}`, ADMIN, { role: "admin" }), 204);
  return name;
}

describe("project webhooks", () => {
  let receiver: WebhookReceiver;
  let registry: TestRegistry;
  let alice: Creds;
  let aliceSession: Session;
  let project: string;
  let otherProject: string;
  const events: BerthEvent[] = [];

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    registry = await startAuthRegistry({
      config: {
        notifications: {
          allowPrivateNetworks: true,
          endpoints: [{ name: "ops-yaml", url: `${receiver.base}/yaml?token=hidden`, actions: ["delete"] }],
        },
      },
    });
    registry.deps.events.subscribe((e) => events.push(e));
    alice = await addUser(registry, "alice");
    const bob = await addUser(registry, "bob");
    project = await createProject(registry, alice);
    otherProject = await createProject(registry, bob);
    aliceSession = await login(registry.url, alice.username, alice.password);
  });

  afterAll(async () => {
    await registry?.stop();
    await receiver?.close();
  });

  const hooks = (p: string) => `/api/v1/projects/${p}/webhooks`;
  const view = async (as: As = aliceSession) => json<View>(await api(registry.url, "GET", hooks(project), as), 200);
  const create = async (body: Record<string, unknown>) => json<Endpoint>(await api(registry.url, "POST", hooks(project), aliceSession, body), 201);

  test("deliveries from a registry push and a web UI delete reach the endpoints that want them, signed; a disabled one gets nothing", async () => {
    const pushes = await create({ url: `${receiver.base}/pushes`, actions: ["push"], secret: SECRET });
    const deletes = await create({ url: `${receiver.base}/deletes`, actions: ["delete"] });
    const off = await create({ url: `${receiver.base}/off`, actions: ["push", "delete"], enabled: false });
    expect(pushes).toMatchObject({ actions: ["push"], enabled: true, hasSecret: true });
    expect(pushes).not.toHaveProperty("secret");
    expect(off.enabled).toBe(false);

    const repo = `${project}/app`;
    const token = await tokenFor(registry.url, alice, repositoryScope(repo, "pull,push"));
    const image = await pushImageAs(registry.url, repo, "v1", `Bearer ${token}`);
    const del = await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/tags/v1`, aliceSession);
    expect(del.status).toBe(204);

    await waitFor("the push at /pushes", () => receiver.at("/pushes").length >= 1);
    await waitFor("the delete at /deletes", () => receiver.at("/deletes").length >= 1);
    await waitFor("the delete at the YAML endpoint", () => receiver.received.some((r) => r.path.startsWith("/yaml") && r.body.includes(repo)));
    expect(receiver.actionsAt("/pushes")).toEqual(["push"]);
    expect(receiver.actionsAt("/deletes")).toEqual(["delete"]);
    const pushed = receiver.at("/pushes")[0];
    expect(signatureVerifies(SECRET, pushed.body, pushed.headers["x-berth-signature-256"])).toBe(true);
    expect(signatureVerifies("another-secret-entirely", pushed.body, pushed.headers["x-berth-signature-256"])).toBe(false);
    expect(JSON.parse(pushed.body).events[0].target).toMatchObject({ repository: repo, digest: image.digest, tag: "v1" });
    const deleted = JSON.parse(receiver.at("/deletes")[0].body).events[0];
    expect(deleted.target).toMatchObject({ repository: repo, tag: "v1" });
    expect(deleted.actor.name).toBe(alice.username);
    expect(receiver.at("/deletes")[0].headers["x-berth-signature-256"]).toBeUndefined();
    expect(receiver.at("/off")).toEqual([]);

    // The history shows each delivery with the receiver's status.
    const listed = await waitFor("both deliveries recorded", async () => {
      const v = await view();
      const byId = (id: number) => v.endpoints.find((e) => e.id === id)!;
      return byId(pushes.id).deliveries.length && byId(deletes.id).deliveries.length ? v : null;
    });
    expect(listed.endpoints.find((e) => e.id === pushes.id)!.deliveries[0]).toMatchObject({ event: "push", success: true, httpStatus: 200, error: null });
    expect(listed.endpoints.find((e) => e.id === off.id)!.deliveries).toEqual([]);
  });

  test("events of another project do not reach this project's endpoints", async () => {
    await create({ url: `${receiver.base}/mine-only`, actions: ["push"] });
    const adminToken = await tokenFor(registry.url, { username: "admin", password: ADMIN_PASSWORD }, repositoryScope(`${otherProject}/x`, "pull,push"));
    await pushImageAs(registry.url, `${otherProject}/x`, "v1", `Bearer ${adminToken}`);
    const token = await tokenFor(registry.url, alice, repositoryScope(`${project}/mine`, "pull,push"));
    await pushImageAs(registry.url, `${project}/mine`, "v1", `Bearer ${token}`);
    await waitFor("this project's push", () => receiver.at("/mine-only").length >= 1);
    const repos = receiver.at("/mine-only").flatMap((r) => JSON.parse(r.body).events.map((e: { target: { repository: string } }) => e.target.repository));
    expect(repos).toEqual([`${project}/mine`]);
  });

  test("send test: the receiver gets a signed test event, the answer and the history carry its status code", async () => {
    const hook = await create({ url: `${receiver.base}/tested`, actions: ["push"], secret: SECRET });
    const result = await json<Delivery>(await api(registry.url, "POST", `${hooks(project)}/${hook.id}/test`, aliceSession), 200);
    expect(result).toMatchObject({ event: "test", success: true, httpStatus: 200, error: null });
    const got = receiver.at("/tested");
    expect(got).toHaveLength(1);
    expect(JSON.parse(got[0].body).events[0]).toMatchObject({ action: "test", target: { repository: project }, actor: { name: alice.username } });
    expect(signatureVerifies(SECRET, got[0].body, got[0].headers["x-berth-signature-256"])).toBe(true);

    receiver.answer("/tested", 503);
    const failed = await json<Delivery>(await api(registry.url, "POST", `${hooks(project)}/${hook.id}/test`, aliceSession), 200);
    expect(failed).toMatchObject({ success: false, httpStatus: 503, error: "HTTP 503" });
    const history = (await view()).endpoints.find((e) => e.id === hook.id)!.deliveries;
    expect(history.map((d) => d.httpStatus)).toEqual([503, 200]);
  });

  test("the delivery history keeps the newest 50 attempts", async () => {
    const hook = await create({ url: `${receiver.base}/many`, actions: ["push"] });
    for (let i = 0; i < 53; i++) await json(await api(registry.url, "POST", `${hooks(project)}/${hook.id}/test`, aliceSession), 200);
    expect(receiver.at("/many")).toHaveLength(53);
    const history = (await view()).endpoints.find((e) => e.id === hook.id)!.deliveries;
    expect(history).toHaveLength(50);
    const times = history.map((d) => Date.parse(d.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    await json(await api(registry.url, "DELETE", `${hooks(project)}/${hook.id}`, aliceSession), 204);
  });

  test("a project admin demoted to developer loses access at once", async () => {
    const carol = await addUser(registry, "carol");
    await json(await api(registry.url, "PUT", `/api/v1/projects/${project}/members/${carol.username}`, ADMIN, { role: "admin" }), 204);
    const session = await login(registry.url, carol.username, carol.password);
    expect((await api(registry.url, "GET", hooks(project), session)).status).toBe(200);
    await json(await api(registry.url, "PUT", `/api/v1/projects/${project}/members/${carol.username}`, ADMIN, { role: "developer" }), 204);
    // Rights that shrink end the account's sessions; a new one is refused.
    expect((await api(registry.url, "GET", hooks(project), session)).status).toBe(401);
    const again = await login(registry.url, carol.username, carol.password);
    expect((await api(registry.url, "GET", hooks(project), again)).status).toBe(403);
    expect((await api(registry.url, "POST", hooks(project), again, { url: `${receiver.base}/demoted`, actions: ["push"] })).status).toBe(403);
    expect(receiver.at("/demoted")).toEqual([]);
  });

  test("changes are admin events on the bus; the secret is write-only and kept when a change leaves it out", async () => {
    const hook = await create({ url: `${receiver.base}/changing`, actions: ["push"], secret: SECRET });
    const updated = await json<Endpoint>(await api(registry.url, "PUT", `${hooks(project)}/${hook.id}`, aliceSession, { url: `${receiver.base}/changed`, actions: ["push", "delete"], enabled: false }), 200);
    expect(updated).toMatchObject({ url: `${receiver.base}/changed`, actions: ["push", "delete"], enabled: false, hasSecret: true });
    await json(await api(registry.url, "DELETE", `${hooks(project)}/${hook.id}`, aliceSession), 204);
    expect((await view()).endpoints.map((e) => e.id)).not.toContain(hook.id);
    await json(await api(registry.url, "DELETE", `${hooks(project)}/${hook.id}`, aliceSession), 404);

    const mine = events.filter((e) => e.reference === `webhook ${hook.id}`);
    expect(mine.map((e) => e.action)).toEqual(["webhook.created", "webhook.updated", "webhook.deleted"]);
    expect(mine[0]).toMatchObject({ actor: { name: alice.username }, detail: { project, hasSecret: true } });
    expect(JSON.stringify(mine)).not.toContain(SECRET);
    const audited = await json<{ events?: unknown[]; items?: unknown[] } | unknown[]>(await api(registry.url, "GET", `/api/v1/audit?action=webhook.created`, ADMIN), 200);
    expect(JSON.stringify(audited)).toContain(`webhook ${hook.id}`);
  });

  test("the YAML endpoint is listed read-only, without its query string", async () => {
    const { configured } = await view();
    expect(configured).toEqual([expect.objectContaining({ name: "ops-yaml", url: `${receiver.base}/yaml?…`, fromConfiguration: true })]);
    expect(JSON.stringify(configured)).not.toContain("hidden");
  });

  test("only the project's admins and site admins see and change its webhooks", async () => {
    const mallory = await addUser(registry, "mallory");
    const developer = await addUser(registry, "dev");
    await json(await api(registry.url, "PUT", `/api/v1/projects/${project}/members/${developer.username}`, ADMIN, { role: "developer" }), 204);
    const body = { url: `${receiver.base}/nope`, actions: ["push"] };
    expect((await api(registry.url, "GET", hooks(otherProject), aliceSession)).status).toBe(403);
    expect((await api(registry.url, "POST", hooks(otherProject), aliceSession, body)).status).toBe(403);
    expect((await api(registry.url, "GET", hooks(project), { basic: [mallory.username, mallory.password] })).status).toBe(403);
    expect((await api(registry.url, "POST", hooks(project), { basic: [developer.username, developer.password] }, body)).status).toBe(403);
    expect((await api(registry.url, "GET", hooks(project), null)).status).toBe(401);
    // An endpoint of another project is not reachable through this project's path.
    const theirs = await json<Endpoint>(await api(registry.url, "POST", hooks(otherProject), ADMIN, body), 201);
    expect((await api(registry.url, "POST", `${hooks(project)}/${theirs.id}/test`, aliceSession)).status).toBe(404);
    expect((await api(registry.url, "PUT", `${hooks(project)}/${theirs.id}`, aliceSession, { ...body, enabled: true })).status).toBe(404);
    expect((await api(registry.url, "DELETE", `${hooks(project)}/${theirs.id}`, aliceSession)).status).toBe(404);
    expect(receiver.at("/nope")).toEqual([]);
  });

  test.each([
    ["url", { url: "ftp://example.com/hook", actions: ["push"] }],
    ["url", { url: "http://user:pass@example.com/hook", actions: ["push"] }],
    ["url", { url: "javascript:alert(1)", actions: ["push"] }],
    ["url", { url: "http://example.com/a b", actions: ["push"] }],
    ["url", { url: "http://example.com/\u0000", actions: ["push"] }],
    ["url", { url: `http://example.com/${"a".repeat(3000)}`, actions: ["push"] }],
    ["url", { actions: ["push"] }],
    ["actions", { url: "http://example.com/hook", actions: ["scan"] }],
    ["actions", { url: "http://example.com/hook", actions: [] }],
    ["actions", { url: "http://example.com/hook", actions: ["push", "push"] }],
    ["actions", { url: "http://example.com/hook", actions: "push" }],
    ["secret", { url: "http://example.com/hook", actions: ["push"], secret: "short" }],
    ["enabled", { url: "http://example.com/hook", actions: ["push"], enabled: "yes" }],
    ["headers", { url: "http://example.com/hook", actions: ["push"], headers: {} }],
  ])("bad input is a 400 naming the field (%s)", async (field, body) => {
    const res = await api(registry.url, "POST", hooks(project), aliceSession, body);
    expect(res.status).toBe(400);
    const error = (await res.json()) as { errors: Array<{ code: string; detail: unknown }> };
    expect(error.errors[0].code).toBe("INVALID_REQUEST");
    expect(String(error.errors[0].detail)).toContain(field);
  });

  test("a body that is not JSON, or too large, is refused without a 500", async () => {
    const notJson = await fetch(`${registry.url}${hooks(project)}`, { method: "POST", headers: { Cookie: aliceSession.cookie, "X-Berth-CSRF": aliceSession.csrf, "Content-Type": "application/json" }, body: "{" });
    expect(notJson.status).toBe(400);
    const huge = await api(registry.url, "POST", hooks(project), aliceSession, { url: "http://example.com/", actions: ["push"], pad: "x".repeat(64 * 1024) });
    expect(huge.status).toBe(413);
    expect((await api(registry.url, "PUT", `${hooks(project)}/99999999`, aliceSession, { url: "http://example.com/", actions: ["push"], enabled: true })).status).toBe(404);
  });

  test("a receiver that is not listening: the failure says why", async () => {
    const dead = await startWebhookReceiver();
    const url = `${dead.base}/gone`;
    await dead.close();
    const hook = await create({ url, actions: ["push"] });
    const result = await json<Delivery>(await api(registry.url, "POST", `${hooks(project)}/${hook.id}/test`, aliceSession), 200);
    expect(result).toMatchObject({ success: false, httpStatus: null });
    expect(result.error).toMatch(/ECONNREFUSED/);
  });

  test("link-local (cloud metadata) addresses are refused even with allowPrivateNetworks", async () => {
    const hook = await create({ url: "http://169.254.169.254/latest/meta-data/", actions: ["push"] });
    const result = await json<Delivery>(await api(registry.url, "POST", `${hooks(project)}/${hook.id}/test`, aliceSession), 200);
    expect(result).toMatchObject({ success: false, httpStatus: null });
    expect(result.error).toMatch(/refused to connect to 169\.254\.169\.254 .*link-local/);
  });
});

describe("project webhooks without allowPrivateNetworks", () => {
  let receiver: WebhookReceiver;
  let registry: TestRegistry;
  let project: string;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    registry = await startAuthRegistry();
    const admin = await addUser(registry, "admin2", true);
    project = await createProject(registry, admin);
  });

  afterAll(async () => {
    await registry?.stop();
    await receiver?.close();
  });

  /** Creates an endpoint at `url`, presses send test, and checks the refusal and that nothing arrived. */
  const refusedTest = async (url: string, message: RegExp): Promise<number> => {
    const hook = await json<Endpoint>(await api(registry.url, "POST", `/api/v1/projects/${project}/webhooks`, ADMIN, { url, actions: ["push"] }), 201);
    const result = await json<Delivery>(await api(registry.url, "POST", `/api/v1/projects/${project}/webhooks/${hook.id}/test`, ADMIN), 200);
    expect(result).toMatchObject({ success: false, httpStatus: null });
    expect(result.error).toMatch(message);
    expect(receiver.received).toEqual([]);
    return hook.id;
  };
  const remove = async (id: number) => json(await api(registry.url, "DELETE", `/api/v1/projects/${project}/webhooks/${id}`, ADMIN), 204);

  test.each([
    ["IPv6 loopback", (port: string) => `http://[::1]:${port}/refused`, /refused to connect to ::1 .*loopback/],
    ["IPv4-mapped IPv6 loopback", (port: string) => `http://[::ffff:127.0.0.1]:${port}/refused`, /loopback/],
    ["a hexadecimal IPv4 address", (port: string) => `http://0x7f000001:${port}/refused`, /refused to connect to 127\.0\.0\.1 .*loopback/],
    ["a private address", (port: string) => `http://10.0.0.1:${port}/refused`, /refused to connect to 10\.0\.0\.1 .*private/],
  ])("the send-test button refuses %s", async (_label, urlOf, message) => {
    await remove(await refusedTest(urlOf(new URL(receiver.base).port), message));
  });

  test.each([
    ["an IP literal", (port: string) => `http://127.0.0.1:${port}/refused`, /refused to connect to 127\.0\.0\.1 .*loopback.*allowPrivateNetworks/],
    ["a name that resolves to loopback", (port: string) => `http://localhost:${port}/refused`, /refused to connect to localhost \(.+\) .*loopback/],
  ])("deliveries to loopback are refused (%s), in the test answer, the history and for registry events", async (_label, urlOf, message) => {
    const id = await refusedTest(urlOf(new URL(receiver.base).port), message);

    const token = await tokenFor(registry.url, { username: "admin", password: ADMIN_PASSWORD }, repositoryScope(`${project}/app`, "pull,push"));
    await pushImageAs(registry.url, `${project}/app`, `t${id}`, `Bearer ${token}`);
    const history = await waitFor("the refused push delivery in the history", async () => {
      const v = await json<View>(await api(registry.url, "GET", `/api/v1/projects/${project}/webhooks`, ADMIN), 200);
      const deliveries = v.endpoints.find((e) => e.id === id)!.deliveries;
      return deliveries.some((d) => d.event === "push") ? deliveries : null;
    });
    expect(history.find((d) => d.event === "push")).toMatchObject({ success: false, httpStatus: null });
    expect(receiver.received).toEqual([]);
    await remove(id);
  });
});
