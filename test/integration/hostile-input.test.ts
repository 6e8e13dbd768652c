// Hostile input against the whole HTTP surface (issue 14): every registered route, read from the route
// tables, gets each path parameter, each query parameter the handlers read and each JSON body replaced by
// NUL, overlong text, invalid UTF-8, deep nesting and wrong types, as the admin. Whatever the route, the
// answer is a 4xx in the shared error envelope (or a 2xx where the input is fine), never a 5xx, and the
// server keeps answering /healthz meanwhile.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { buildApp } from "../../src/app";
import type { RouteDescription } from "../../src/http/route-table";
import { ADMIN_PASSWORD, basic, startAuthRegistry } from "../support/auth-helpers";
import type { TestRegistry } from "../support/registry";
import { WebStatic } from "../../src/web/static";

jest.setTimeout(600_000);

const ADMIN = basic("admin", ADMIN_PASSWORD);

const BAD_TEXT: Record<string, string> = {
  nul: "%00",
  "nul inside": "a%00b",
  overlong: "a".repeat(10 * 1024),
  "invalid UTF-8 (C3 28)": "%C3%28",
  "invalid UTF-8 (FF)": "%FF",
  "encoded surrogate": "%ED%A0%80",
};

/** Dates JavaScript parses but Postgres (or the calendar) refuses; sent as every query parameter's value. */
const EDGE_DATES = ["0000-01-01", "-000001-01-01", "+275760-09-13", "2026-02-30", "9999-12-31T23:59:59-23:59", "1969-12-31", "1", "Dec 5"];

const DEEP = "[".repeat(10_000) + "]".repeat(10_000);
const DEEP_OBJECT = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
/** Every field name a body schema uses gets each of these. */
const FIELDS = ["name", "username", "password", "description", "pattern", "kind", "role", "member", "permissions", "expiresAt", "public", "isAdmin", "from", "tag", "tags", "keepTags", "repository", "actions", "disabled", "force"];
const BODIES: Record<string, string | Buffer> = {
  "deep array": DEEP,
  "deep object": DEEP_OBJECT,
  "not JSON": "{nope",
  "invalid UTF-8": Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff]), Buffer.from('"}')]),
  array: "[]",
  string: '"x"',
  number: "7",
  null: "null",
  "NUL strings": JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, "a\u0000b"]))),
  "lone surrogates": `{${FIELDS.map((f) => `"${f}":"\\ud800"`).join(",")}}`,
  "wrong types": JSON.stringify(Object.fromEntries(FIELDS.map((f, i) => [f, [[], {}, 1, true, null][i % 5]]))),
  "nested strings": JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, { x: [1] }]))),
  "overlong strings": JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, "a".repeat(10 * 1024)]))),
  ...Object.fromEntries(EDGE_DATES.map((d) => [`date ${d}`, JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, d])))])),
};

/** The query parameters handlers read, found in the source so a new one is attacked as soon as it exists. */
function queryNames(): string[] {
  const names = new Set(["service", "account", "since", "until"]);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const file = path.join(dir, entry);
      if (statSync(file).isDirectory()) walk(file);
      else if (file.endsWith(".ts")) for (const m of readFileSync(file, "utf8").matchAll(/query\.get(?:All)?\("([^"]+)"\)/g)) names.add(m[1]);
    }
  };
  walk(path.resolve(__dirname, "../../src"));
  return [...names];
}

/** A concrete path for `pattern`, each capture group replaced by the matching entry of `values`. */
function pathOf(pattern: RegExp, values: string[]): string {
  let i = 0;
  const source = pattern.source
    .replace(/^\^/, "")
    .replace(/\$$/, "")
    .replace(/\\\/\?$/, "")
    // a capture group: a repository name or a reference; nested non-capturing groups inside it included
    .replace(/\((?!\?)(?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)/g, () => values[i++] ?? "x");
  return source.replace(/\\(.)/g, "$1");
}

function sampleValues(pattern: RegExp): string[] {
  const groups = (pattern.source.match(/\((?!\?)/g) ?? []).length;
  return Array.from({ length: groups }, (_, i) => (i === 0 && /\(\.\+\)|\(\(\?:\(\?!/.test(pattern.source) ? "fuzz/repo" : /\\d/.test(pattern.source) ? "1" : "fuzz"));
}

let registry: TestRegistry;
let routes: RouteDescription[];

beforeAll(async () => {
  registry = await startAuthRegistry();
  routes = buildApp(registry.deps).locals.routes as RouteDescription[];
});

afterAll(async () => {
  await registry?.stop();
});

interface Failure {
  request: string;
  status: number;
  body: string;
}

/** Sends one request; returns what is wrong with the answer, or null. */
async function attack(method: string, url: string, body?: string | Buffer): Promise<Failure | null> {
  const request = `${method} ${url.slice(0, 160)}${body === undefined ? "" : ` body ${String(body).slice(0, 40)}`}`;
  const res = await fetch(`${registry.url}${url}`, {
    method,
    headers: { Authorization: ADMIN, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body,
  });
  const text = await res.text();
  if (res.status >= 500) return { request, status: res.status, body: text.slice(0, 300) };
  if (res.headers.get("x-content-type-options") !== "nosniff") return { request, status: res.status, body: "no nosniff header" };
  if (res.status >= 400 && method !== "HEAD") {
    // The shared envelope: {"errors":[{"code","message",…}]} on /v2 and the JSON API alike.
    let code: unknown;
    try {
      code = (JSON.parse(text) as { errors?: Array<{ code?: unknown }> }).errors?.[0]?.code;
    } catch {
      code = undefined;
    }
    if (typeof code !== "string") return { request, status: res.status, body: `not the error envelope: ${text.slice(0, 200)}` };
  }
  return null;
}

/** Every attack on every route and method, `concurrency` at a time. */
function attacks(): Array<() => Promise<Failure | null>> {
  const names = queryNames();
  const list: Array<() => Promise<Failure | null>> = [];
  for (const { pattern, methods } of routes) {
    const samples = sampleValues(pattern);
    for (const method of methods) {
      for (const bad of Object.values(BAD_TEXT)) {
        samples.forEach((_, slot) => {
          list.push(() => attack(method, pathOf(pattern, samples.map((v, i) => (i === slot ? bad : v)))));
        });
        for (const name of names) list.push(() => attack(method, `${pathOf(pattern, samples)}?${name}=${bad}`));
      }
      for (const date of EDGE_DATES) {
        for (const name of names) list.push(() => attack(method, `${pathOf(pattern, samples)}?${name}=${encodeURIComponent(date)}`));
      }
      if (method !== "GET" && method !== "HEAD") {
        for (const body of Object.values(BODIES)) list.push(() => attack(method, pathOf(pattern, samples), body));
      }
    }
  }
  return list;
}

test("the route tables are read (the walk below is not empty)", () => {
  const paths = routes.map((r) => r.pattern.source);
  expect(paths).toEqual(expect.arrayContaining(["^\\/v2\\/(.+)\\/manifests\\/([^/]+)$", "^\\/api\\/v1\\/users$", "^\\/token\\/?$", "^\\/healthz$"]));
  expect(pathOf(/^\/v2\/(.+)\/manifests\/([^/]+)$/, ["a/b", "c"])).toBe("/v2/a/b/manifests/c");
  expect(pathOf(/^\/api\/v1\/repositories\/((?:(?!\/-\/).)+)$/, ["a/b"])).toBe("/api/v1/repositories/a/b");
});

test("no hostile parameter or body on any route makes a 5xx, and /healthz keeps answering", async () => {
  const queue = attacks();
  expect(queue.length).toBeGreaterThan(1000);
  const failures: Failure[] = [];
  let done = false;
  const health: number[] = [];
  const pinger = (async () => {
    while (!done) health.push((await fetch(`${registry.url}/healthz`)).status);
  })();
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const failure = await next();
      if (failure) failures.push(failure);
    }
  };
  try {
    await Promise.all([worker(), worker(), worker(), worker()]);
  } finally {
    done = true;
    await pinger;
  }
  expect(failures).toEqual([]);
  expect(health.length).toBeGreaterThan(0);
  expect(health.every((s) => s === 200)).toBe(true);
});

test("HEAD answers as GET does, without a body, on every route that offers GET; other methods stay 405 with Allow", async () => {
  const mismatches: string[] = [];
  for (const { pattern, methods } of routes.filter((r) => r.methods.includes("GET"))) {
    const url = `${registry.url}${pathOf(pattern, sampleValues(pattern))}`;
    const get = await fetch(url, { headers: { Authorization: ADMIN } });
    await get.arrayBuffer();
    const head = await fetch(url, { method: "HEAD", headers: { Authorization: ADMIN } });
    const body = await head.text();
    if (head.status !== get.status || body !== "") mismatches.push(`${url}: GET ${get.status}, HEAD ${head.status} ${body.slice(0, 80)}`);
    if (!methods.includes("PATCH")) {
      const refused = await fetch(url, { method: "PATCH", headers: { Authorization: ADMIN } });
      const allow = refused.headers.get("allow")?.split(", ") ?? [];
      if (refused.status !== 405 || !allow.includes("GET") || !allow.includes("HEAD")) mismatches.push(`${url}: PATCH ${refused.status}, Allow ${allow}`);
    }
  }
  expect(mismatches).toEqual([]);
});

test("no route shares a path with the web UI (mounted before the rate limiter, it would shadow one)", () => {
  const ui = WebStatic.default();
  const shadowed = routes.map((r) => pathOf(r.pattern, sampleValues(r.pattern))).filter((p) => ui.serves("GET", p));
  expect(shadowed).toEqual([]);
});

test("a manifest nested 10,000 levels deep is MANIFEST_INVALID on /v2, a deep body INVALID_REQUEST on the API", async () => {
  const type = "application/vnd.oci.image.manifest.v1+json";
  const manifest = `{"schemaVersion":2,"mediaType":"${type}","annotations":{"x":${DEEP}}}`;
  const pushed = await fetch(`${registry.url}/v2/deep/image/manifests/latest`, { method: "PUT", headers: { Authorization: ADMIN, "Content-Type": type }, body: manifest });
  expect(pushed.status).toBe(400);
  expect(((await pushed.json()) as { errors: Array<{ code: string; detail: string }> }).errors[0]).toMatchObject({ code: "MANIFEST_INVALID", detail: expect.stringMatching(/nested deeper/) });
  const api = await fetch(`${registry.url}/api/v1/users`, { method: "POST", headers: { Authorization: ADMIN, "Content-Type": "application/json" }, body: DEEP_OBJECT });
  expect(api.status).toBe(400);
  expect(((await api.json()) as { errors: Array<{ code: string; detail: string }> }).errors[0]).toMatchObject({ code: "INVALID_REQUEST", detail: expect.stringMatching(/nested deeper/) });
});

test("a blob served with success carries nosniff too", async () => {
  const data = Buffer.from("<html><script>alert(1)</script></html>");
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  const put = await fetch(`${registry.url}/v2/sniff/blob/blobs/uploads/?digest=${digest}`, { method: "POST", headers: { Authorization: ADMIN, "Content-Type": "application/octet-stream" }, body: data });
  expect(put.status).toBe(201);
  const got = await fetch(`${registry.url}/v2/sniff/blob/blobs/${digest}`, { headers: { Authorization: ADMIN } });
  expect(got.status).toBe(200);
  expect(got.headers.get("x-content-type-options")).toBe("nosniff");
  expect(Buffer.from(await got.arrayBuffer())).toEqual(data);
});

test("a hostile session cookie is no session: 401, never a 5xx", async () => {
  for (const cookie of ["%00", "a%00b", "%ZZ", "%C3%28", "x".repeat(10 * 1024), "é"]) {
    for (const url of ["/api/v1/me", "/api/v1/users", "/v2/"]) {
      const res = await fetch(`${registry.url}${url}`, { headers: { Cookie: `berth_session=${cookie}` } });
      expect([url, cookie.slice(0, 10), res.status]).toEqual([url, cookie.slice(0, 10), 401]);
    }
  }
});

test("an impossible or out-of-range date is a 400 naming the field, never a Postgres error", async () => {
  // The offset one is a real instant of 9999 as written (Postgres takes it): only the walk sends it.
  for (const date of EDGE_DATES.filter((d) => !d.startsWith("9999"))) {
    for (const field of ["since", "until", "from", "to"]) {
      const res = await fetch(`${registry.url}/api/v1/audit?${field}=${encodeURIComponent(date)}`, { headers: { Authorization: ADMIN } });
      expect([date, field, res.status]).toEqual([date, field, 400]);
      expect(((await res.json()) as { errors: Array<{ detail?: string }> }).errors[0].detail).toMatch(new RegExp(`^${field}: must be an ISO 8601 date`));
    }
  }
  const robot = await fetch(`${registry.url}/api/v1/robots`, {
    method: "POST",
    headers: { Authorization: ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "dated", permissions: [], expiresAt: "10000-01-01T00:00:00Z" }),
  });
  expect(robot.status).toBe(400);
  expect(await robot.text()).toMatch(/expiresAt/);
  const fine = await fetch(`${registry.url}/api/v1/audit?since=2024-02-29&until=${encodeURIComponent("2099-12-31T23:59:59+01:00")}`, { headers: { Authorization: ADMIN } });
  expect(fine.status).toBe(200);
});
