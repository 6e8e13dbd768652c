// A complete audit trail (issue 15, item 6). Table-driven: every mutating route of the registered route tables
// (read from app.locals.routes, as the hostile-input test does) has a case here, so a route added without one
// fails the first test, naming it. Each case sends its request from an address of its own (through a trusted
// proxy) and the audit log must hold exactly one event from that address, with the expected actor, project,
// repository, reference and outcome — or none, where the table says why. Then: refusals (403, quota,
// immutable tags, invalid tokens) are audited and the challenge handshake is not; a project admin sees their
// project's events only; filters validate and filter; the CSV export parses back with formula cells escaped.
import { createHash } from "node:crypto";
import { buildApp } from "../../src/app";
import type { RouteDescription } from "../../src/http/route-table";
import type { AuditEvent } from "../../src/audit/audit-log";
import { ADMIN_PASSWORD, bearer, getToken, startAuthRegistry, tokenFor, uniqueName, type TokenBody } from "../support/auth-helpers";
import { buildImage, sha256, uniqueSuffix, type BuiltImage } from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver";
import { headersFor, login, seedImage, tarOf, type As, type Session } from "../support/web-client";
import { parseCsv } from "../support/csv";
import { waitFor } from "../support/wait-for";

jest.setTimeout(300_000);

const PASSWORD = "audit-Pa55word-long";

let upstream: TestRegistry;
let registry: TestRegistry;
let routes: RouteDescription[];
let admin: Session;
/** The project every case acts in, its repository, and accounts holding roles in it. */
const project = uniqueName("audited");
const repo = `${project}/app`;
const users = { dev: uniqueName("dev"), guest: uniqueName("guest"), padmin: uniqueName("padmin") };
let seeded: BuiltImage;
/** Where the project's webhooks point (loopback: the registry's configuration allows private networks). */
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  upstream = await startTestRegistry();
  await seedImage(upstream.deps, "library/base", buildImage({ layers: 1 }), "1");
  registry = await startAuthRegistry({
    config: {
      trustedProxies: ["loopback"],
      notifications: { allowPrivateNetworks: true },
      mirror: { upstreams: [{ name: "hub", url: upstream.url, prefix: "hub", timeoutSeconds: 10 }] },
    },
  });
  routes = buildApp(registry.deps).locals.routes as RouteDescription[];
  admin = await login(registry.url, "admin", ADMIN_PASSWORD);
  const accounts = registry.deps.auth.accounts;
  await accounts.addProject(project);
  for (const [name, role] of [[users.dev, "developer"], [users.guest, "guest"], [users.padmin, "admin"]] as const) {
    await accounts.addUser(name, PASSWORD, false);
    await accounts.setMember(project, name, role);
  }
  seeded = buildImage({ layers: 1 });
  await seedImage(registry.deps, repo, seeded, "1.0");
});

afterAll(async () => {
  await registry?.stop();
  await upstream?.stop();
  await receiver?.close();
});

// ---------------------------------------------------------------------------------------------------------
// Requests and the events they left

let addressCounter = 0;
/** A client address no other request in this file uses (TEST-NET-2/3), so its events are its own. */
function freshAddress(): string {
  const n = ++addressCounter;
  return `198.51.${100 + Math.floor(n / 250)}.${(n % 250) + 1}`;
}

interface Call {
  method: string;
  path: string;
  as?: As | { token: string };
  body?: unknown;
  raw?: RequestInit["body"];
  headers?: Record<string, string>;
}

function send(call: Call, address: string): Promise<Response> {
  const extra: Record<string, string> = { "X-Forwarded-For": address, ...call.headers };
  if (call.body !== undefined) extra["Content-Type"] = "application/json";
  const as = call.as ?? null;
  const headers = as && "token" in as ? { Authorization: bearer(as.token), ...extra } : headersFor(as, extra);
  return fetch(`${registry.url}${call.path}`, { method: call.method, headers, body: call.raw ?? (call.body === undefined ? undefined : JSON.stringify(call.body)) });
}

/** The events recorded from `address` (the audit log is flushed by the query). */
async function eventsFrom(address: string): Promise<AuditEvent[]> {
  return (await registry.deps.audit.query({ limit: 1000 })).filter((e) => e.clientIp === address);
}

async function sent(call: Call, status: number): Promise<{ address: string; events: AuditEvent[]; body: string }> {
  const address = freshAddress();
  const res = await send(call, address);
  const body = await res.text();
  expect({ call: `${call.method} ${call.path}`, status: res.status, body: res.status === status ? "" : body }).toEqual({ call: `${call.method} ${call.path}`, status, body: "" });
  return { address, events: await eventsFrom(address), body };
}

const pushScope = `repository:${repo}:pull,push,delete`;
const adminToken = () => tokenFor(registry.url, { username: "admin", password: ADMIN_PASSWORD }, pushScope);

async function startUpload(token: string): Promise<string> {
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { Authorization: bearer(token) } });
  expect(res.status).toBe(202);
  return new URL(res.headers.get("location")!, registry.url).pathname;
}

async function pushBlob(token: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", headers: { Authorization: bearer(token) }, body: data });
  expect(res.status).toBe(201);
  return digest;
}

async function adminApi(method: string, path: string, body?: unknown): Promise<Response> {
  const res = await fetch(`${registry.url}${path}`, { method, headers: headersFor(admin, body === undefined ? {} : { "Content-Type": "application/json" }), body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

/** A robot of the shared project, made by the site admin; its short name (the part after robot$<project>+). */
async function projectRobot(): Promise<string> {
  const name = uniqueName("proj-bot");
  await adminApi("POST", `/api/v1/projects/${project}/robots`, { name, permissions: [{ project, actions: ["pull"] }] });
  return name;
}

/**
 * A webhook of the shared project pointing at the local receiver, disabled so the other cases' pushes and
 * pulls are not delivered to it (a test delivery goes whatever the endpoint's state).
 */
const webhookBody = () => ({ url: `${receiver.base}/hook-${uniqueSuffix()}`, actions: ["push"], enabled: false });
async function projectWebhook(): Promise<number> {
  return ((await (await adminApi("POST", `/api/v1/projects/${project}/webhooks`, webhookBody())).json()) as { id: number }).id;
}

// ---------------------------------------------------------------------------------------------------------
// The table: one case per mutating route and method

interface Expected {
  action: string;
  actor: string;
  project: string | null;
  repository: string | null;
  reference?: string | null;
  outcome?: string;
}

interface Case {
  method: string;
  /** The route's pattern source, exactly as registered. */
  route: string;
  /** Builds the request (and whatever it needs to exist first). */
  request: () => Promise<Call>;
  status: number;
  /** The one event the request must leave; null with `why` where a request records nothing by design. */
  expect: Expected | null;
  why?: string;
}

const byAdmin = (e: Omit<Expected, "actor">): Expected => ({ actor: "admin", ...e });

const CASES: Case[] = [
  // ---- the registry API ----
  {
    method: "POST",
    route: String.raw`^\/v2\/(.+)\/blobs\/uploads\/?$`,
    request: async () => ({ method: "POST", path: `/v2/${repo}/blobs/uploads/`, as: { token: await adminToken() } }),
    status: 202,
    expect: null,
    why: "a blob upload is one step of a push: the manifest PUT that completes it is the event (docker sends 3 requests per layer)",
  },
  {
    method: "PATCH",
    route: String.raw`^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$`,
    request: async () => {
      const token = await adminToken();
      return { method: "PATCH", path: await startUpload(token), as: { token }, raw: Buffer.from("chunk"), headers: { "Content-Type": "application/octet-stream" } };
    },
    status: 202,
    expect: null,
    why: "a chunk of a blob upload (see POST)",
  },
  {
    method: "PUT",
    route: String.raw`^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$`,
    request: async () => {
      const token = await adminToken();
      const data = Buffer.from(`blob ${uniqueSuffix()}`);
      return { method: "PUT", path: `${await startUpload(token)}?digest=${sha256(data)}`, as: { token }, raw: data, headers: { "Content-Type": "application/octet-stream" } };
    },
    status: 201,
    expect: null,
    why: "the end of a blob upload (see POST)",
  },
  {
    method: "DELETE",
    route: String.raw`^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$`,
    request: async () => {
      const token = await adminToken();
      return { method: "DELETE", path: await startUpload(token), as: { token } };
    },
    status: 204,
    expect: null,
    why: "cancelling an upload leaves nothing behind that was ever pushed",
  },
  {
    method: "DELETE",
    route: String.raw`^\/v2\/(.+)\/blobs\/([^/]+)$`,
    request: async () => {
      const token = await adminToken();
      const digest = await pushBlob(token, Buffer.from(`lone blob ${uniqueSuffix()}`));
      return { method: "DELETE", path: `/v2/${repo}/blobs/${digest}`, as: { token } };
    },
    status: 202,
    expect: byAdmin({ action: "delete", project, repository: repo }),
  },
  {
    method: "PUT",
    route: String.raw`^\/v2\/(.+)\/manifests\/([^/]+)$`,
    request: async () => ({
      method: "PUT",
      path: `/v2/${repo}/manifests/pushed`,
      as: { token: await adminToken() },
      raw: seeded.bytes,
      headers: { "Content-Type": seeded.mediaType },
    }),
    status: 201,
    expect: byAdmin({ action: "push", project, repository: repo, reference: "pushed" }),
  },
  {
    method: "DELETE",
    route: String.raw`^\/v2\/(.+)\/manifests\/([^/]+)$`,
    request: async () => {
      const image = buildImage({ layers: 1 });
      await seedImage(registry.deps, repo, image, `del-${uniqueSuffix()}`);
      return { method: "DELETE", path: `/v2/${repo}/manifests/${image.digest}`, as: { token: await adminToken() } };
    },
    status: 202,
    expect: byAdmin({ action: "delete", project, repository: repo }),
  },
  // ---- tokens and sessions ----
  {
    method: "POST",
    route: String.raw`^\/token\/?$`,
    request: async () => {
      const refresh = ((await (await getToken(registry.url, { creds: { username: users.dev, password: PASSWORD }, offline: true })).json()) as TokenBody).refresh_token!;
      return { method: "POST", path: "/token", raw: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh, service: "berth" }).toString(), headers: { "Content-Type": "application/x-www-form-urlencoded" } };
    },
    status: 200,
    expect: { action: "token", actor: users.dev, project: null, repository: null },
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/session$`,
    request: async () => ({ method: "POST", path: "/api/v1/session", body: { username: users.dev, password: PASSWORD } }),
    status: 200,
    expect: { action: "login", actor: users.dev, project: null, repository: null },
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/session$`,
    request: async () => ({ method: "DELETE", path: "/api/v1/session", as: await login(registry.url, users.dev, PASSWORD) }),
    status: 204,
    expect: { action: "logout", actor: users.dev, project: null, repository: null },
  },
  // ---- accounts ----
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/users$`,
    request: async () => ({ method: "POST", path: "/api/v1/users", as: admin, body: { username: uniqueName("new-user"), password: PASSWORD } }),
    status: 201,
    expect: byAdmin({ action: "user.created", project: null, repository: null }),
  },
  {
    method: "PATCH",
    route: String.raw`^\/api\/v1\/users\/([^/]+)$`,
    request: async () => {
      const name = uniqueName("patched");
      await adminApi("POST", "/api/v1/users", { username: name, password: PASSWORD });
      return { method: "PATCH", path: `/api/v1/users/${name}`, as: admin, body: { disabled: true } };
    },
    status: 200,
    expect: byAdmin({ action: "user.disabled", project: null, repository: null }),
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/users\/([^/]+)$`,
    request: async () => {
      const name = uniqueName("deleted");
      await adminApi("POST", "/api/v1/users", { username: name, password: PASSWORD });
      return { method: "DELETE", path: `/api/v1/users/${name}`, as: admin };
    },
    status: 204,
    expect: byAdmin({ action: "user.deleted", project: null, repository: null }),
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/robots$`,
    request: async () => ({ method: "POST", path: "/api/v1/robots", as: admin, body: { name: uniqueName("bot"), permissions: [{ project, actions: ["pull"] }] } }),
    status: 201,
    expect: byAdmin({ action: "robot.created", project: null, repository: null }),
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/robots\/([^/]+)$`,
    request: async () => {
      const name = uniqueName("gone-bot");
      await adminApi("POST", "/api/v1/robots", { name, permissions: [{ project, actions: ["pull"] }] });
      return { method: "DELETE", path: `/api/v1/robots/${encodeURIComponent(`robot$${name}`)}`, as: admin };
    },
    status: 204,
    expect: byAdmin({ action: "robot.deleted", project: null, repository: null }),
  },
  {
    method: "PATCH",
    route: String.raw`^\/api\/v1\/robots\/([^/]+)$`,
    request: async () => {
      const name = uniqueName("edited-bot");
      await adminApi("POST", "/api/v1/robots", { name, permissions: [{ project, actions: ["pull"] }] });
      return { method: "PATCH", path: `/api/v1/robots/${encodeURIComponent(`robot$${name}`)}`, as: admin, body: { description: "rebuilt nightly" } };
    },
    status: 200,
    expect: byAdmin({ action: "robot.updated", project: null, repository: null }),
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/robots\/([^/]+)\/secret$`,
    request: async () => {
      const name = uniqueName("rekeyed-bot");
      await adminApi("POST", "/api/v1/robots", { name, permissions: [{ project, actions: ["pull"] }] });
      return { method: "POST", path: `/api/v1/robots/${encodeURIComponent(`robot$${name}`)}/secret`, as: admin };
    },
    status: 200,
    expect: byAdmin({ action: "robot.secret_refreshed", project: null, repository: null }),
  },
  // A project's robots, managed by its own project admin: the change is theirs and in their project.
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/robots$`,
    request: async () => ({ method: "POST", path: `/api/v1/projects/${project}/robots`, as: await login(registry.url, users.padmin, PASSWORD), body: { name: uniqueName("ci"), permissions: [{ project, actions: ["pull"] }] } }),
    status: 201,
    expect: { action: "robot.created", actor: users.padmin, project, repository: null },
  },
  {
    method: "PATCH",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/robots\/([^/]+)$`,
    request: async () => ({ method: "PATCH", path: `/api/v1/projects/${project}/robots/${await projectRobot()}`, as: await login(registry.url, users.padmin, PASSWORD), body: { disabled: true } }),
    status: 200,
    expect: { action: "robot.disabled", actor: users.padmin, project, repository: null },
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/robots\/([^/]+)$`,
    request: async () => ({ method: "DELETE", path: `/api/v1/projects/${project}/robots/${await projectRobot()}`, as: await login(registry.url, users.padmin, PASSWORD) }),
    status: 204,
    expect: { action: "robot.deleted", actor: users.padmin, project, repository: null },
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/robots\/([^/]+)\/secret$`,
    request: async () => ({ method: "POST", path: `/api/v1/projects/${project}/robots/${await projectRobot()}/secret`, as: await login(registry.url, users.padmin, PASSWORD) }),
    status: 200,
    expect: { action: "robot.secret_refreshed", actor: users.padmin, project, repository: null },
  },
  // ---- projects, members, rules ----
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/projects$`,
    request: async () => ({ method: "POST", path: "/api/v1/projects", as: admin, body: { name: "case-new-project" } }),
    status: 201,
    expect: byAdmin({ action: "project.created", project: "case-new-project", repository: null, reference: "project case-new-project" }),
  },
  {
    method: "PATCH",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)$`,
    // Its own project admin, not a site admin: a project admin's change is theirs and in their project.
    request: async () => ({ method: "PATCH", path: `/api/v1/projects/${project}`, as: await login(registry.url, users.padmin, PASSWORD), body: { public: false } }),
    status: 200,
    expect: { action: "project.visibility_changed", actor: users.padmin, project, repository: null },
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)$`,
    request: async () => {
      await adminApi("POST", "/api/v1/projects", { name: "case-doomed-project" });
      return { method: "DELETE", path: "/api/v1/projects/case-doomed-project", as: admin };
    },
    status: 204,
    expect: byAdmin({ action: "project.deleted", project: "case-doomed-project", repository: null }),
  },
  {
    method: "PUT",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/members\/([^/]+)$`,
    request: async () => {
      const name = uniqueName("member");
      await adminApi("POST", "/api/v1/users", { username: name, password: PASSWORD });
      return { method: "PUT", path: `/api/v1/projects/${project}/members/${name}`, as: admin, body: { role: "guest" } };
    },
    status: 204,
    expect: byAdmin({ action: "member.set", project, repository: null }),
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/members\/([^/]+)$`,
    request: async () => {
      const name = uniqueName("ex-member");
      await adminApi("POST", "/api/v1/users", { username: name, password: PASSWORD });
      await adminApi("PUT", `/api/v1/projects/${project}/members/${name}`, { role: "guest" });
      return { method: "DELETE", path: `/api/v1/projects/${project}/members/${name}`, as: admin };
    },
    status: 204,
    expect: byAdmin({ action: "member.removed", project, repository: null }),
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/rules$`,
    request: async () => ({ method: "POST", path: `/api/v1/projects/${project}/rules`, as: admin, body: { kind: "immutable", tags: [`frozen-${uniqueSuffix()}`] } }),
    status: 201,
    expect: byAdmin({ action: "rule.created", project, repository: null }),
  },
  {
    method: "PUT",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/rules\/(\d{1,9})$`,
    request: async () => {
      const rule = (await (await adminApi("POST", `/api/v1/projects/${project}/rules`, { kind: "immutable", tags: [`a-${uniqueSuffix()}`] })).json()) as { id: number };
      return { method: "PUT", path: `/api/v1/projects/${project}/rules/${rule.id}`, as: admin, body: { kind: "immutable", tags: [`b-${uniqueSuffix()}`] } };
    },
    status: 200,
    expect: byAdmin({ action: "rule.updated", project, repository: null }),
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/rules\/(\d{1,9})$`,
    request: async () => {
      const rule = (await (await adminApi("POST", `/api/v1/projects/${project}/rules`, { kind: "immutable", tags: [`c-${uniqueSuffix()}`] })).json()) as { id: number };
      return { method: "DELETE", path: `/api/v1/projects/${project}/rules/${rule.id}`, as: admin };
    },
    status: 204,
    expect: byAdmin({ action: "rule.deleted", project, repository: null }),
  },
  // ---- project webhooks, by the project's own admin ----
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/webhooks$`,
    request: async () => ({ method: "POST", path: `/api/v1/projects/${project}/webhooks`, as: await login(registry.url, users.padmin, PASSWORD), body: webhookBody() }),
    status: 201,
    expect: { action: "webhook.created", actor: users.padmin, project, repository: null },
  },
  {
    method: "PUT",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/webhooks\/(\d{1,9})$`,
    request: async () => ({ method: "PUT", path: `/api/v1/projects/${project}/webhooks/${await projectWebhook()}`, as: await login(registry.url, users.padmin, PASSWORD), body: { ...webhookBody(), actions: ["push", "delete"] } }),
    status: 200,
    expect: { action: "webhook.updated", actor: users.padmin, project, repository: null },
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/webhooks\/(\d{1,9})$`,
    request: async () => ({ method: "DELETE", path: `/api/v1/projects/${project}/webhooks/${await projectWebhook()}`, as: await login(registry.url, users.padmin, PASSWORD) }),
    status: 204,
    expect: { action: "webhook.deleted", actor: users.padmin, project, repository: null },
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/projects\/([^/]+)\/webhooks\/(\d{1,9})\/test$`,
    request: async () => ({ method: "POST", path: `/api/v1/projects/${project}/webhooks/${await projectWebhook()}/test`, as: await login(registry.url, users.padmin, PASSWORD) }),
    status: 200,
    expect: null,
    why: "a test delivery changes nothing: it goes to the receiver and into the endpoint's own delivery history",
  },
  // ---- operations ----
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/gc\/dry-run$`,
    request: async () => ({ method: "POST", path: "/api/v1/gc/dry-run", as: admin }),
    status: 200,
    expect: byAdmin({ action: "gc.run", project: null, repository: null }),
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/gc\/runs$`,
    request: async () => ({ method: "POST", path: "/api/v1/gc/runs", as: admin }),
    status: 200,
    expect: byAdmin({ action: "gc.run", project: null, repository: null }),
  },
  {
    method: "PUT",
    route: String.raw`^\/api\/v1\/gc\/settings$`,
    request: async () => ({ method: "PUT", path: "/api/v1/gc/settings", as: admin, body: { untagged: true } }),
    status: 200,
    expect: byAdmin({ action: "setting.changed", project: null, repository: null }),
  },
  {
    method: "PUT",
    route: String.raw`^\/api\/v1\/settings$`,
    // The configured default, set in the UI: one change recorded, and no other case's behaviour changed.
    request: async () => ({ method: "PUT", path: "/api/v1/settings", as: admin, body: { tokenTtlSeconds: 300 } }),
    status: 200,
    expect: byAdmin({ action: "setting.changed", project: null, repository: null, reference: "setting auth.tokenTtlSeconds" }),
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/mirror\/warm$`,
    request: async () => ({ method: "POST", path: "/api/v1/mirror/warm", as: admin, body: { image: "hub/library/base:1" } }),
    status: 200,
    expect: byAdmin({ action: "mirror.warmed", project: null, repository: null, reference: "hub/library/base:1" }),
  },
  // ---- the web UI's repository actions ----
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/repositories\/(.+)\/-\/tags\/([^/]+)$`,
    request: async () => {
      const tag = `t-${uniqueSuffix()}`;
      await seedImage(registry.deps, repo, buildImage({ layers: 1 }), tag);
      return { method: "DELETE", path: `/api/v1/repositories/${repo}/-/tags/${tag}`, as: admin };
    },
    status: 204,
    expect: byAdmin({ action: "delete", project, repository: repo }),
  },
  {
    method: "DELETE",
    route: String.raw`^\/api\/v1\/repositories\/(.+)\/-\/manifests\/([^/]+)$`,
    request: async () => {
      const image = buildImage({ layers: 1 });
      await seedImage(registry.deps, repo, image, `m-${uniqueSuffix()}`);
      return { method: "DELETE", path: `/api/v1/repositories/${repo}/-/manifests/${image.digest}`, as: admin };
    },
    status: 204,
    expect: byAdmin({ action: "delete", project, repository: repo }),
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/repositories\/(.+)\/-\/copy$`,
    // A developer: push and pull in the project, no more.
    request: async () => ({ method: "POST", path: `/api/v1/repositories/${repo}/-/copy`, as: await login(registry.url, users.dev, PASSWORD), body: { reference: "1.0", tag: "copied" } }),
    status: 201,
    expect: { action: "push", actor: users.dev, project, repository: repo, reference: "copied" },
  },
  {
    method: "POST",
    route: String.raw`^\/api\/v1\/repositories\/(.+)\/-\/import$`,
    request: async () => {
      const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: uniqueSuffix() }));
      const configName = `${createHash("sha256").update(config).digest("hex")}.json`;
      const archive = await tarOf([
        { name: "l/layer.tar", data: Buffer.from(`layer ${uniqueSuffix()}`) },
        { name: configName, data: config },
        { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ["x/y:imported"], Layers: ["l/layer.tar"] }])) },
      ]);
      const form = new FormData();
      form.append("file", new Blob([archive]), "image.tar");
      return { method: "POST", path: `/api/v1/repositories/${repo}/-/import`, as: admin, raw: form };
    },
    status: 201,
    expect: byAdmin({ action: "push", project, repository: repo, reference: "imported" }),
  },
];

const caseKey = (method: string, route: string) => `${method} ${route}`;

test("every mutating route of the route tables has a case in this table", () => {
  const mutating = routes.flatMap((r) => r.methods.filter((m) => m !== "GET" && m !== "HEAD").map((m) => caseKey(m, r.pattern.source)));
  expect(mutating.length).toBeGreaterThan(25);
  const covered = new Set(CASES.map((c) => caseKey(c.method, c.route)));
  const missing = mutating.filter((key) => !covered.has(key));
  const stale = [...covered].filter((key) => !mutating.includes(key));
  expect({ "routes without an audit case (add one to CASES)": missing, "cases for routes that no longer exist": stale }).toEqual({
    "routes without an audit case (add one to CASES)": [],
    "cases for routes that no longer exist": [],
  });
});

describe.each(CASES.map((c) => [caseKey(c.method, c.route), c] as const))("%s", (_key, c) => {
  test(c.expect ? `leaves exactly one ${c.expect.action} event with who, where and what` : `records nothing: ${c.why}`, async () => {
    const { address, events } = await sent(await c.request(), c.status);
    if (!c.expect) {
      expect(events).toEqual([]);
      return;
    }
    expect(events).toHaveLength(1);
    const { reference, outcome, ...fields } = c.expect;
    expect(events[0]).toMatchObject({ ...fields, clientIp: address, outcome: outcome ?? "success", success: (outcome ?? "success") === "success" });
    if (reference !== undefined) expect(events[0].reference).toBe(reference);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Refusals

describe("refused operations are audited; the challenge handshake is not", () => {
  test("a guest's push is refused (403) and recorded once, as the guest's, in the project", async () => {
    const token = await tokenFor(registry.url, { username: users.guest, password: PASSWORD }, pushScope);
    const { address, events } = await sent({ method: "POST", path: `/v2/${repo}/blobs/uploads/`, as: { token } }, 403);
    expect(events).toEqual([expect.objectContaining({ action: "access.denied", actor: users.guest, clientIp: address, project, repository: repo, outcome: "refused", success: false })]);
    expect(events[0].detail).toMatchObject({ status: 403, code: "DENIED", method: "POST" });
  });

  test("a non-admin calling an admin route (Basic credentials) is recorded once", async () => {
    const { address, events } = await sent({ method: "POST", path: "/api/v1/users", as: { basic: [users.dev, PASSWORD] }, body: { username: "x-never", password: PASSWORD } }, 403);
    // The password check is a login of its own; the refusal is the other event.
    expect(events.filter((e) => e.action !== "login")).toEqual([expect.objectContaining({ action: "access.denied", actor: users.dev, clientIp: address, outcome: "refused" })]);
  });

  test("a project admin changing another project is refused and recorded under that project", async () => {
    const other = uniqueName("other");
    await adminApi("POST", "/api/v1/projects", { name: other });
    const { events } = await sent({ method: "PATCH", path: `/api/v1/projects/${other}`, as: await login(registry.url, users.padmin, PASSWORD), body: { public: true } }, 403);
    expect(events).toEqual([expect.objectContaining({ action: "access.denied", actor: users.padmin, project: other, outcome: "refused" })]);
  });

  test("overwriting an immutable tag is refused and recorded", async () => {
    await adminApi("POST", `/api/v1/projects/${project}/rules`, { kind: "immutable", tags: ["locked"] });
    await seedImage(registry.deps, repo, buildImage({ layers: 1 }), "locked");
    const { events } = await sent({ method: "PUT", path: `/v2/${repo}/manifests/locked`, as: { token: await adminToken() }, raw: seeded.bytes, headers: { "Content-Type": seeded.mediaType } }, 403);
    expect(events).toEqual([expect.objectContaining({ action: "access.denied", actor: "admin", repository: repo, reference: "locked", outcome: "refused" })]);
    expect(String(events[0].detail?.message)).toMatch(/immutable/);
  });

  test("a push over the project's quota is one quota.exceeded event (refused), not two", async () => {
    const small = uniqueName("small");
    await adminApi("POST", "/api/v1/projects", { name: small });
    await adminApi("PATCH", `/api/v1/projects/${small}`, { quota: 10 });
    const token = await tokenFor(registry.url, { username: "admin", password: ADMIN_PASSWORD }, `repository:${small}/app:pull,push`);
    const data = Buffer.alloc(100, 7);
    const { events } = await sent({ method: "POST", path: `/v2/${small}/app/blobs/uploads/?digest=${sha256(data)}`, as: { token }, raw: data }, 403);
    expect(events).toEqual([expect.objectContaining({ action: "quota.exceeded", actor: "admin", project: small, repository: `${small}/app`, outcome: "refused", success: false })]);
  });

  test("a token we signed that no longer works is recorded with what it claims, never as the claimed account", async () => {
    const name = uniqueName("revoked");
    await adminApi("POST", "/api/v1/users", { username: name, password: PASSWORD });
    const token = await tokenFor(registry.url, { username: name, password: PASSWORD }, `repository:${repo}:pull`);
    expect((await adminApi("PATCH", `/api/v1/users/${name}`, { disabled: true })).status).toBe(200);
    const { address } = await sent({ method: "GET", path: `/v2/${repo}/tags/list`, as: { token } }, 401);
    // The signature is checked off the response's path, so the event may land just after the answer.
    const events = await waitFor("the refused token's event", async () => {
      const found = await eventsFrom(address);
      return found.length > 0 ? found : undefined;
    });
    expect(events).toEqual([expect.objectContaining({ action: "access.denied", actor: "anonymous", repository: repo, outcome: "refused" })]);
    expect(events[0].detail).toMatchObject({ status: 401, claimedSubject: name });
  });

  test("a forged token leaves no event: any client could otherwise grow the audit log for free", async () => {
    const token = await adminToken();
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"A".repeat(43)}`;
    const { address } = await sent({ method: "GET", path: `/v2/${repo}/tags/list`, as: { token: forged } }, 401);
    // The check the refusal audit makes before recording a 401 declines it (so no event can follow)...
    expect(await registry.deps.auth.token!.tokens.signedHere(forged)).toBe(false);
    expect(await registry.deps.auth.token!.tokens.signedHere(token)).toBe(true);
    // ...and nothing was recorded.
    expect(await eventsFrom(address)).toEqual([]);
  });

  test("a wrong password is one refused login", async () => {
    const { events } = await sent({ method: "POST", path: "/api/v1/session", body: { username: users.dev, password: "wrong-password" } }, 401);
    expect(events).toEqual([expect.objectContaining({ action: "login", actor: users.dev, outcome: "refused", success: false })]);
  });

  test("not audited: the anonymous challenge, an anonymous token lacking a scope, an anonymous read of a private page", async () => {
    expect((await sent({ method: "GET", path: "/v2/" }, 401)).events).toEqual([]);
    const anonymous = await tokenFor(registry.url, null, `repository:${repo}:pull`);
    expect((await sent({ method: "GET", path: `/v2/${repo}/tags/list`, as: { token: anonymous } }, 401)).events).toEqual([]);
    expect((await sent({ method: "GET", path: `/v2/${repo}/manifests/1.0` }, 401)).events).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Who sees what, filters, CSV

describe("the audit API", () => {
  const other = uniqueName("elsewhere");

  beforeAll(async () => {
    await registry.deps.auth.accounts.addProject(other);
    await seedImage(registry.deps, `${other}/app`, buildImage({ layers: 1 }), "1.0");
    await adminApi("DELETE", `/api/v1/repositories/${other}/app/-/tags/1.0`);
  });

  const get = async (path: string, as: As) => {
    const res = await fetch(`${registry.url}${path}`, { headers: headersFor(as) });
    return { status: res.status, body: await res.text(), headers: res.headers };
  };

  test("a project admin sees their project's events only, whatever the query asks; not the site's, not another project's", async () => {
    const padmin = await login(registry.url, users.padmin, PASSWORD);
    const own = await get(`/api/v1/projects/${project}/audit?limit=1000`, padmin);
    expect(own.status).toBe(200);
    const events = JSON.parse(own.body) as AuditEvent[];
    expect(events.length).toBeGreaterThan(5);
    expect(events.every((e) => e.project === project)).toBe(true);
    const smuggled = JSON.parse((await get(`/api/v1/projects/${project}/audit?project=${other}&limit=1000`, padmin)).body) as AuditEvent[];
    expect(smuggled.every((e) => e.project === project)).toBe(true);
    expect((await get(`/api/v1/projects/${other}/audit`, padmin)).status).toBe(403);
    expect((await get(`/api/v1/audit`, padmin)).status).toBe(403);
    expect((await get(`/api/v1/projects/${project}/audit`, await login(registry.url, users.dev, PASSWORD))).status).toBe(403);
    // The site admin sees the other project's events.
    const all = JSON.parse((await get(`/api/v1/audit?project=${other}`, admin)).body) as AuditEvent[];
    expect(all.map((e) => [e.action, e.actor, e.project])).toEqual([
      ["access.denied", users.padmin, other],
      ["delete", "admin", other],
    ]);
  });

  test("filters: project, repository, actor, action, outcome, time range, paging", async () => {
    const list = async (query: string) => {
      const res = await get(`/api/v1/audit?${query}`, admin);
      expect({ query, status: res.status }).toEqual({ query, status: 200 });
      return JSON.parse(res.body) as AuditEvent[];
    };
    const refused = await list("outcome=refused&limit=1000");
    expect(refused.length).toBeGreaterThan(3);
    expect(refused.every((e) => e.outcome === "refused" && !e.success)).toBe(true);
    const byGuest = await list(`actor=${users.guest}&action=access.denied`);
    expect(byGuest.length).toBe(1);
    expect((await list(`repository=${repo}&limit=1000`)).every((e) => e.repository === repo)).toBe(true);
    const inRange = await list(`from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date().toISOString())}&limit=1000`);
    expect(inRange.length).toBeGreaterThan(10);
    expect(await list(`to=2000-01-01T00:00:00Z`)).toEqual([]);
    const first = await list("limit=3");
    const next = await list(`limit=3&before=${first[2].id}`);
    expect(next.map((e) => BigInt(e.id) < BigInt(first[2].id))).toEqual([true, true, true]);
  });

  test.each([
    ["from=yesterday", /^from:/],
    ["to=2026-13-45", /^to:/],
    ["since=nope", /^since:/],
    ["outcome=maybe", /^outcome:/],
    ["limit=0", /^limit:/],
    ["before=abc", /^before:/],
    ["format=xlsx", /^format:/],
    ["from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", /^from: must not be after to/],
  ])("a bad %s is 400 naming the field", async (query, message) => {
    const res = await get(`/api/v1/audit?${query}`, admin);
    expect(res.status).toBe(400);
    const error = (JSON.parse(res.body) as { errors: Array<{ code: string; detail: string }> }).errors[0];
    expect(error.code).toBe("INVALID_REQUEST");
    expect(error.detail).toMatch(message);
  });

  test("CSV export: streamed attachment, RFC 4180 quoting, formula cells made inert, parses back to the JSON page", async () => {
    // Refused logins under hostile names put them in the actor column.
    const hostile = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2", "@SUM(A1)", 'quote " comma , and\r\nnewline'];
    for (const username of hostile) await sent({ method: "POST", path: "/api/v1/session", body: { username, password: "wrong-password" } }, 401);
    const res = await get(`/api/v1/audit?format=csv&action=login&outcome=refused`, admin);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="berth-audit.csv"');
    const [header, ...rows] = parseCsv(res.body);
    expect(header).toEqual(["id", "time", "actor", "client_address", "action", "outcome", "project", "repository", "reference", "detail"]);
    const actors = rows.map((r) => r[2]);
    expect(actors).toEqual(expect.arrayContaining(["'=HYPERLINK(\"http://x\",\"y\")", "'+1+1", "'-2", "'@SUM(A1)", 'quote " comma , and\r\nnewline']));
    expect(rows.every((r) => r[4] === "login" && r[5] === "refused")).toBe(true);
    // The same events as the JSON API, in the same order.
    const json = JSON.parse((await get(`/api/v1/audit?action=login&outcome=refused&limit=1000`, admin)).body) as AuditEvent[];
    expect(rows.map((r) => r[0])).toEqual(json.map((e) => e.id));
    // The export is every event (pages of 1000 are read until one is short), each once.
    const everything = parseCsv((await get(`/api/v1/audit?format=csv`, admin)).body).slice(1);
    const total = (JSON.parse((await get(`/api/v1/audit?limit=1000`, admin)).body) as AuditEvent[]).length;
    expect(total).toBeGreaterThan(50);
    expect(everything.length).toBeGreaterThanOrEqual(total);
    expect(new Set(everything.map((r) => r[0])).size).toBe(everything.length);
  });

  test("an export reads page after page until a short one, each event once", async () => {
    const pages: string[][] = [];
    for await (const page of registry.deps.audit.pages({ limit: 7 })) pages.push(page.map((e) => e.id));
    const all = (await registry.deps.audit.query({ limit: 1000 })).map((e) => e.id);
    expect(pages.length).toBeGreaterThan(3);
    expect(pages.slice(0, -1).every((p) => p.length === 7)).toBe(true);
    expect(pages.flat()).toEqual(all);
  });

  test("a project admin's CSV holds their project's events only", async () => {
    const res = await get(`/api/v1/projects/${project}/audit?format=csv`, await login(registry.url, users.padmin, PASSWORD));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="berth-audit-${project}.csv"`);
    const rows = parseCsv(res.body).slice(1);
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.every((r) => r[6] === project)).toBe(true);
  });
});
