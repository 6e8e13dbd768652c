// The express application's per-route policies: each route's body policy (an import larger than the
// generic 4 MiB body limit, a JSON body over its own limit, the whole-request timeout on small bodies but
// not on blob uploads), multer's limits on multipart imports, and the one error format on /v2 and /api.
import { createHash } from "node:crypto";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { rawExchange } from "../support/raw-exchange";
import { expectOciError, finishUpload, randomBytes, sha256, startUpload, uniqueSuffix } from "../support/oci-client";
import { tarOf } from "../support/web-client";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { waitFor } from "../support/wait-for";

const IMPORT_MAX = 8 * 1024 * 1024;

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startTestRegistry({ config: { http: { requestTimeoutSeconds: 1, idleTimeoutSeconds: 5 }, web: { importMaxBytes: IMPORT_MAX } } });
});
afterAll(() => registry?.stop());

const importUrl = (repo: string) => `${registry.url}/api/v1/repositories/${repo}/-/import`;

/** A `docker save` archive whose one layer is `layerBytes` of random data. */
async function dockerSave(layerBytes: number, tag: string): Promise<Buffer> {
  const layer = randomBytes(layerBytes);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const configName = `${createHash("sha256").update(config).digest("hex")}.json`;
  return tarOf([
    { name: "l/layer.tar", data: layer },
    { name: configName, data: config },
    { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [`x/y:${tag}`], Layers: ["l/layer.tar"] }])) },
  ]);
}

function form(files: Array<{ field: string; data: Buffer }>, fields: Record<string, string> = {}): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  for (const f of files) body.append(f.field, new Blob([f.data]), "image.tar");
  return body;
}

describe("body policy per route", () => {
  test("an import larger than the generic 4 MiB body limit goes through, as a form and as a raw body", async () => {
    const archive = await dockerSave(5 * 1024 * 1024, "big");
    expect(archive.length).toBeGreaterThan(4 * 1024 * 1024);
    const repo = `policy/import-${uniqueSuffix()}`;
    const multipart = await fetch(importUrl(repo), { method: "POST", body: form([{ field: "file", data: archive }]) });
    expect(multipart.status).toBe(201);
    expect(await multipart.json()).toMatchObject({ format: "docker-save", images: [{ tag: "big" }] });
    const raw = await fetch(`${importUrl(repo)}?tag=raw`, { method: "POST", headers: { "Content-Type": "application/x-tar" }, body: archive });
    expect(raw.status).toBe(201);
    expect((await fetch(`${registry.url}/v2/${repo}/manifests/raw`, { method: "HEAD", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } })).status).toBe(200);
  });

  test("a raw import body is held to web.importMaxBytes by the route's body policy alone: declared or streamed", async () => {
    const repo = `policy/raw-${uniqueSuffix()}`;
    // One byte over: a raw body gets no multipart allowance.
    const declared = await fetch(importUrl(repo), { method: "POST", headers: { "Content-Type": "application/x-tar" }, body: Buffer.alloc(IMPORT_MAX + 1) });
    const body = await expectOciError(declared, 413, "SIZE_INVALID");
    expect(String(body.errors[0].detail)).toBe(`request body larger than the limit of ${IMPORT_MAX} bytes (web.importMaxBytes)`);
    // Without a length, the connection is cut once the body passes the limit (as for a blob upload's
    // PATCH: nothing else bounds a streamed body); nothing of it is imported or left on disk.
    const streamed = Buffer.alloc(IMPORT_MAX + 64 * 1024);
    const chunked = await fetch(importUrl(repo), {
      method: "POST",
      headers: { "Content-Type": "application/x-tar" },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < streamed.length; i += 64 * 1024) controller.enqueue(streamed.subarray(i, i + 64 * 1024));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit).then(
      async (res) => ({ status: res.status, text: await res.text() }),
      (err: Error) => ({ status: 0, text: String(err.cause ?? err) }),
    );
    expect(chunked).toEqual({ status: 0, text: expect.stringMatching(/ECONNRESET|closed|terminated/) });
    await waitFor("the cut import's work directory to be removed", async () => (await readdir(path.join(registry.dataDir, "tmp")).catch(() => [] as string[])).filter((e) => e.startsWith("import-")).length === 0 || null);
    expect((await fetch(`${registry.url}/v2/${repo}/tags/list`)).status).toBe(404);
  });

  test("a JSON body over its route's limit is 413 in the JSON API's format", async () => {
    const res = await fetch(`${registry.url}/api/v1/repositories/policy/x/-/copy`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ reference: "a".repeat(100 * 1024), tag: "t" }),
    });
    const body = await expectOciError(res, 413, "SIZE_INVALID");
    expect(body.errors[0]).toEqual({ code: "SIZE_INVALID", message: expect.any(String), detail: expect.stringMatching(/65536/) });
  });

  test("a slow JSON body gets the whole-request timeout, a slow blob upload does not", async () => {
    const slowJson = await rawExchange(registry.host, (s) =>
      s.write(`POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"username"`),
    );
    expect(slowJson.response).toMatch(/^HTTP\/1\.1 408 [\s\S]*connection: close/i);
    expect(slowJson.closedAfterMs).toBeGreaterThanOrEqual(900);

    const repo = `policy/slow-${uniqueSuffix()}`;
    const { location } = await startUpload(registry.url, repo);
    const data = randomBytes(2000);
    const path = `${location.pathname}${location.search}`;
    // The second half comes after longer than requestTimeoutSeconds (1 s), well within the idle timeout.
    const slowBlob = await rawExchange(registry.host, (s) => {
      s.write(`PATCH ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${data.length}\r\nConnection: close\r\n\r\n`);
      s.write(data.subarray(0, 1000));
      setTimeout(() => s.write(data.subarray(1000)), 1500);
    });
    expect(slowBlob.response).toMatch(/^HTTP\/1\.1 202 /);
    expect((await finishUpload(location, sha256(data))).status).toBe(201);
  });
});

describe("multer's limits on multipart imports", () => {
  const repo = `policy/limits-${uniqueSuffix()}`;

  test("a file over web.importMaxBytes is 413", async () => {
    // Within the route's byte limit (the form's framing allowance), so it is multer that refuses it.
    const res = await fetch(importUrl(repo), { method: "POST", body: form([{ field: "file", data: Buffer.alloc(IMPORT_MAX + 64 * 1024) }]) });
    const body = await expectOciError(res, 413, "SIZE_INVALID");
    expect(String(body.errors[0].detail)).toMatch(/importMaxBytes/);
  });

  test("more than one file, or too many fields, is 400", async () => {
    const archive = await dockerSave(1000, "two");
    const two = await fetch(importUrl(repo), { method: "POST", body: form([{ field: "file", data: archive }, { field: "other", data: archive }]) });
    expect(String((await expectOciError(two, 400, "INVALID_REQUEST")).errors[0].detail)).toMatch(/one archive per import/);
    const fields = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${i}`, "x"]));
    const many = await fetch(importUrl(repo), { method: "POST", body: form([{ field: "file", data: archive }], fields) });
    expect(String((await expectOciError(many, 400, "INVALID_REQUEST")).errors[0].detail)).toMatch(/too many/i);
  });

  test("a form without a file is 400", async () => {
    const res = await fetch(importUrl(repo), { method: "POST", body: form([], { note: "no file" }) });
    expect(String((await expectOciError(res, 400, "INVALID_REQUEST")).errors[0].detail)).toMatch(/holds no file/);
  });
});

describe("one error format", () => {
  test("/v2 and /api both answer {errors:[{code,message,detail}]}; only /v2 carries the registry API header", async () => {
    const v2 = await fetch(`${registry.url}/v2/policy/absent-${uniqueSuffix()}/manifests/latest`);
    const v2Body = await expectOciError(v2, 404, "MANIFEST_UNKNOWN");
    expect(v2Body.errors[0]).toMatchObject({ code: "MANIFEST_UNKNOWN", message: "manifest unknown to registry" });
    expect(v2.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    const api = await fetch(`${registry.url}/api/v1/repositories/policy/absent-${uniqueSuffix()}/-/tags`);
    const apiBody = await expectOciError(api, 404, "NAME_UNKNOWN");
    expect(apiBody.errors[0]).toMatchObject({ code: "NAME_UNKNOWN", message: expect.any(String), detail: expect.anything() });
    expect(api.headers.get("docker-distribution-api-version")).toBeNull();
  });

  test("names and references reach their grammars raw: percent-escapes are not decoded by the router", async () => {
    // "a%2Fb" would be the valid name "a/b" if decoded; "%zz" would make express answer its own 400.
    await expectOciError(await fetch(`${registry.url}/v2/a%2Fb/tags/list`), 400, "NAME_INVALID");
    await expectOciError(await fetch(`${registry.url}/v2/a%zz/tags/list`), 400, "NAME_INVALID");
    await expectOciError(await fetch(`${registry.url}/api/v1/repositories/a%2Fb/-/tags`), 400, "NAME_INVALID");
    await expectOciError(await fetch(`${registry.url}/v2/policy/app/manifests/v%31`, { method: "PUT", body: "{}" }), 400, "TAG_INVALID");
  });

  test("405 lists the allowed methods; HEAD is answered wherever GET is", async () => {
    const res = await fetch(`${registry.url}/v2/policy/app/tags/list`, { method: "DELETE" });
    await expectOciError(res, 405, "UNSUPPORTED");
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    const get = await fetch(`${registry.url}/v2/policy/app/tags/list`);
    const head = await fetch(`${registry.url}/v2/policy/app/tags/list`, { method: "HEAD" });
    expect({ status: head.status, type: head.headers.get("content-type"), body: await head.text() }).toEqual({
      status: get.status,
      type: get.headers.get("content-type"),
      body: "",
    });
  });
});

describe("a minimum rate for streamed bodies", () => {
  let slow: TestRegistry;
  beforeAll(async () => {
    slow = await startTestRegistry({
      config: {
        auth: { enabled: true, adminPassword: "admin-password-1" },
        // A short window keeps the test short; the idle timeout is far away, so only the rate can cut.
        http: { minBodyBytesPerSecond: 1000, minBodyRateWindowSeconds: 1, idleTimeoutSeconds: 120 },
        web: { importConcurrency: 1, importConcurrencyPerUser: 1 },
      },
    });
  });
  afterAll(() => slow?.stop());
  const admin = `Basic ${Buffer.from("admin:admin-password-1").toString("base64")}`;

  /** Sends `head`, then one byte every 100 ms (well under 1000 B/s, and never idle) until the server closes. */
  const trickle = (head: string) =>
    rawExchange(slow.host, (s) => {
      s.write(head);
      const drip = setInterval(() => s.write("x"), 100);
      s.once("close", () => clearInterval(drip));
    });

  test("a trickling blob upload is answered 408 and closed; a trickling import is too, and frees its import slot", async () => {
    const repo = `policy/trickle-${uniqueSuffix()}`;
    const started = await fetch(`${slow.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { Authorization: admin } });
    expect(started.status).toBe(202);
    const location = new URL(started.headers.get("location")!, slow.url);
    const blob = await trickle(
      `PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: x\r\nAuthorization: ${admin}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n`,
    );
    expect(blob.response).toMatch(/^HTTP\/1\.1 408 [\s\S]*http\.minBodyBytesPerSecond/);

    const imported = await trickle(
      `POST /api/v1/repositories/${repo}/-/import HTTP/1.1\r\nHost: x\r\nAuthorization: ${admin}\r\nContent-Type: application/x-tar\r\nContent-Length: 100000\r\n\r\n`,
    );
    expect(imported.response).toMatch(/^HTTP\/1\.1 408 [\s\S]*http\.minBodyBytesPerSecond/);
    // The only import slot is free again: the next import is read (and refused for its content, not 429/503).
    await waitFor("the import slot to be released", async () => {
      const next = await fetch(`${slow.url}/api/v1/repositories/${repo}/-/import`, { method: "POST", headers: { Authorization: admin, "Content-Type": "application/x-tar" }, body: Buffer.alloc(1024) });
      return next.status === 400 || undefined;
    });
  });
});
