// What one web import may cost: a gzip bomb stops at the expansion bounds with nothing left on disk and
// memory flat, imports at once are limited per user and in total, and a disk too small for the declared
// body is refused before the body is read (the real free space, read with statfs); concurrent imports
// claim room from one ledger, and a body without a length is held to the disk as it unpacks.
import http from "node:http";
import { readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { pack as tarPack } from "tar-stream";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { expectOciError, randomBytes, uniqueSuffix } from "../support/oci-client";
import { api, headersFor, login, tarOf, type As } from "../support/web-client";
import { freeBytes } from "../../src/web/disk-ledger";

const ADMIN_PASSWORD = "admin-password-1";
const PASSWORD = "user-password-1";
const MiB = 1024 * 1024;

let registry: TestRegistry;
const as: Record<string, As> = {};

beforeAll(async () => {
  registry = await startTestRegistry({
    config: {
      auth: { enabled: true, adminPassword: ADMIN_PASSWORD },
      web: {
        // Large enough that only the bounds under test refuse anything.
        importMaxBytes: 2 ** 50,
        importMaxExpandedBytes: 64 * MiB,
        importMaxExpansionRatio: 100,
        importConcurrency: 2,
        importConcurrencyPerUser: 1,
        importMinFreeBytes: 0,
      },
    },
  });
  const admin = await login(registry.url, "admin", ADMIN_PASSWORD);
  expect((await api(registry.url, "POST", "/api/v1/projects", admin, { name: "imp" })).status).toBe(201);
  for (const name of ["alice", "bob", "carol"]) {
    expect((await api(registry.url, "POST", "/api/v1/users", admin, { username: name, password: PASSWORD })).status).toBe(201);
    expect((await api(registry.url, "PUT", `/api/v1/projects/imp/members/${name}`, admin, { role: "developer" })).status).toBe(204);
    as[name] = { basic: [name, PASSWORD] };
  }
});
afterAll(() => registry?.stop());

const importUrl = (repo: string) => `${registry.url}/api/v1/repositories/${repo}/-/import`;
const workDir = () => path.join(registry.dataDir, "tmp");

/** The import work directories present now. */
async function importDirs(): Promise<string[]> {
  const entries = await readdir(workDir()).catch(() => [] as string[]);
  return entries.filter((e) => e.startsWith("import-"));
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** A gzipped tar holding one file of `size` zero bytes, compressed while generated (never whole in memory). */
async function gzipBomb(size: number): Promise<Buffer> {
  const tar = tarPack();
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => gzip.on("end", resolve).on("error", reject));
  tar.pipe(gzip);
  // tar-stream's entries are streamx writables, typed as node's by @types/tar-stream in one overload only.
  const entry = tar.entry({ name: "layer.tar", size }) as unknown as Writable;
  const zeros = Buffer.alloc(MiB);
  for (let left = size; left > 0; left -= zeros.length) {
    if (!entry.write(zeros.subarray(0, Math.min(zeros.length, left)))) await new Promise<void>((r) => entry.once("drain", () => r()));
  }
  entry.end();
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function smallArchive(tag: string): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, tag }));
  return tarOf([
    { name: "layer.tar", data: randomBytes(1000) },
    { name: "config.json", data: config },
    { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: "config.json", RepoTags: [`x/y:${tag}`], Layers: ["layer.tar"] }])) },
  ]);
}

function rawImport(repo: string, who: As, body: Buffer): Promise<Response> {
  return fetch(importUrl(repo), { method: "POST", headers: headersFor(who, { "Content-Type": "application/x-tar" }), body });
}

/** A raw import that declares `length` bytes and sends only its first bytes, holding its slot until destroyed. */
function heldImport(repo: string, who: As, length: number): http.ClientRequest {
  return heldImportAt(importUrl(repo), who, length);
}

function heldImportAt(importUrl: string, who: As, length: number): http.ClientRequest {
  const url = new URL(importUrl);
  const req = http.request(url, { method: "POST", headers: headersFor(who, { "Content-Type": "application/x-tar", "Content-Length": String(length) }) });
  req.on("error", () => {
    // destroyed by the test on purpose
  });
  req.write(Buffer.alloc(1024));
  return req;
}

describe("expansion", () => {
  test("a 1 GiB gzip bomb (~1 MiB sent) is refused by the ratio bound, leaves nothing on disk, and does not grow memory", async () => {
    const bomb = await gzipBomb(1024 * MiB);
    expect(bomb.length).toBeLessThan(2 * MiB);
    const rssBefore = process.memoryUsage().rss;
    for (const send of [
      () => rawImport(`imp/bomb-${uniqueSuffix()}`, as.alice, bomb),
      () => {
        const form = new FormData();
        form.append("file", new Blob([bomb]), "bomb.tar.gz");
        return fetch(importUrl(`imp/bomb-${uniqueSuffix()}`), { method: "POST", headers: headersFor(as.alice), body: form });
      },
    ]) {
      const body = await expectOciError(await send(), 400, "INVALID_REQUEST");
      expect(String(body.errors[0].detail)).toMatch(/more than 100 times its compressed size \(web\.importMaxExpansionRatio\)/);
      expect(await importDirs()).toEqual([]);
    }
    // The server runs in this process: holding the expansion in memory would show here.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * MiB);
  });

  test("an archive that expands within the ratio but past web.importMaxExpandedBytes is refused", async () => {
    // Random data does not compress: 70 MiB sent, 70 MiB unpacked, over the 64 MiB absolute bound.
    const archive = await tarOf([{ name: "big.bin", data: randomBytes(70 * MiB) }]);
    const body = await expectOciError(await rawImport(`imp/abs-${uniqueSuffix()}`, as.alice, archive), 400, "INVALID_REQUEST");
    expect(String(body.errors[0].detail)).toMatch(/more than 67108864 bytes \(web\.importMaxExpandedBytes\)/);
    expect(await importDirs()).toEqual([]);
  });
});

describe("imports at once", () => {
  test("a user's second import is 429 while another user's is accepted; a full server is 503; an aborted import frees its slot", async () => {
    const repo = `imp/slots-${uniqueSuffix()}`;
    const heldA = heldImport(repo, as.alice, 10 * MiB);
    await waitFor("alice's held import to start", async () => (await importDirs()).length === 1);

    const second = await rawImport(repo, as.alice, await smallArchive("a2"));
    expect(second.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(String((await expectOciError(second, 429, "TOOMANYREQUESTS")).errors[0].detail)).toMatch(/importConcurrencyPerUser/);

    expect((await rawImport(repo, as.bob, await smallArchive("b1"))).status).toBe(201);
    // b1's work folder may outlive its answer for a moment: counting it would mistake it for bob's held import.
    await waitFor("bob's finished import to be cleaned up", async () => (await importDirs()).length === 1);

    const heldB = heldImport(repo, as.bob, 10 * MiB);
    await waitFor("bob's held import to start", async () => (await importDirs()).length === 2);
    const full = await rawImport(repo, as.carol, await smallArchive("c1"));
    expect(full.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(String((await expectOciError(full, 503, "UNAVAILABLE")).errors[0].detail)).toMatch(/importConcurrency\b/);

    heldA.destroy();
    await waitFor("alice's aborted import to be cleaned up", async () => (await importDirs()).length === 1);
    expect((await rawImport(repo, as.alice, await smallArchive("a3"))).status).toBe(201);
    heldB.destroy();
    await waitFor("bob's aborted import to be cleaned up", async () => (await importDirs()).length === 0);
  });
});

/** Sends only the headers of a raw import declaring `length` bytes (no body) and reads the answer. */
async function declaredOnly(url: string, who: As, length: number): Promise<{ status: number; body: { errors: Array<{ code: string; detail: unknown }> } }> {
  const req = http.request(new URL(url), { method: "POST", headers: headersFor(who, { "Content-Type": "application/x-tar", "Content-Length": String(length) }) });
  req.on("error", () => {
    // the server closes the connection after refusing
  });
  req.flushHeaders();
  const res = await new Promise<http.IncomingMessage>((resolve) => req.on("response", resolve));
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  req.destroy();
  return { status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
}

/**
 * A registry whose disk is "short": web.importMinFreeBytes is set to the real free space less `budget`, so
 * imports may claim only about `budget` (more or less what other processes wrote or freed meanwhile: the
 * budgets and claims below leave a margin of hundreds of MiB for that). The filesystem blob store is on
 * the same disk, so an import claims its bytes twice (work file and stored blob).
 */
async function registryWithRoom(budget: number, web: Record<string, unknown> = {}): Promise<{ registry: TestRegistry; url: (repo: string) => string; dirs: () => Promise<string[]> }> {
  const free = await freeBytes(os.tmpdir());
  const short = await startTestRegistry({
    config: {
      auth: { enabled: true, adminPassword: ADMIN_PASSWORD },
      web: { importMaxBytes: 2 ** 50, importMaxExpandedBytes: 2 ** 40, importConcurrency: 8, importConcurrencyPerUser: 8, importMinFreeBytes: free - budget, ...web },
    },
  });
  const admin = await login(short.url, "admin", ADMIN_PASSWORD);
  expect((await api(short.url, "POST", "/api/v1/projects", admin, { name: "imp" })).status).toBe(201);
  const dirs = async () => (await readdir(path.join(short.dataDir, "tmp")).catch(() => [] as string[])).filter((e) => e.startsWith("import-"));
  return { registry: short, url: (repo) => `${short.url}/api/v1/repositories/${repo}/-/import`, dirs };
}

const admin: As = { basic: ["admin", ADMIN_PASSWORD] };

describe("disk space", () => {
  const GiB = 1024 * MiB;
  let short: Awaited<ReturnType<typeof registryWithRoom>>;
  beforeAll(async () => {
    short = await registryWithRoom(4 * GiB);
  });
  afterAll(() => short?.registry.stop());

  test("a declared body that could unpack to more than the disk can take is 507 before the body is sent", async () => {
    // 512 TiB declared, claimed up to web.importMaxExpandedBytes (1 TiB), twice: far past any free space.
    const { status, body } = await declaredOnly(short.url(`imp/disk-${uniqueSuffix()}`), admin, 2 ** 49);
    expect(status).toBe(507);
    expect(body.errors[0]).toMatchObject({ code: "UNAVAILABLE", detail: expect.stringMatching(/not enough disk space .* bytes free .*web\.importMinFreeBytes/) });
    expect(await short.dirs()).toEqual([]);
  });

  test("concurrent imports claim room from one ledger: the one that would overshoot with the others is 507 until they end", async () => {
    const repo = `imp/ledger-${uniqueSuffix()}`;
    // Each claims 2.5 GiB (1.25 GiB declared, twice) of the 4 GiB: one fits, two do not — though the
    // disk itself has room for both, since the first has written almost nothing.
    const declared = 1.25 * GiB;
    const first = heldImportAt(short.url(repo), admin, declared);
    await waitFor("the first import to start", async () => (await short.dirs()).length === 1);
    const second = await declaredOnly(short.url(repo), admin, declared);
    expect(second.status).toBe(507);
    expect(String(second.body.errors[0].detail)).toMatch(new RegExp(`${2 * declared} held by imports running, ${2 * declared} needed by this one`));
    expect(await short.dirs()).toHaveLength(1);

    first.destroy();
    await waitFor("the first import to end", async () => (await short.dirs()).length === 0);
    const third = heldImportAt(short.url(repo), admin, declared);
    await waitFor("the same claim to be admitted once the first released its room", async () => (await short.dirs()).length === 1);
    third.destroy();
    await waitFor("the third import to end", async () => (await short.dirs()).length === 0);
  });
});

describe("disk space while unpacking", () => {
  let short: Awaited<ReturnType<typeof registryWithRoom>>;
  beforeAll(async () => {
    // Zeros compress 1000:1: the ratio bound is lifted so that only the disk can stop them.
    short = await registryWithRoom(256 * MiB, { importMaxExpansionRatio: 1_000_000 });
  });
  afterAll(() => short?.registry.stop());

  /** A raw import sent chunked (no Content-Length), streamed from `source`; resolves to the answer. */
  async function chunkedImport(url: string, source: NodeJS.ReadableStream): Promise<{ status: number; body: string }> {
    const req = http.request(new URL(url), { method: "POST", headers: headersFor(admin, { "Content-Type": "application/x-tar", "Transfer-Encoding": "chunked" }) });
    req.on("error", () => {
      // the server may close the connection after refusing, while the test still sends
    });
    source.pipe(req);
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on("response", resolve));
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    req.destroy();
    (source as unknown as { destroy(): void }).destroy();
    return { status: res.statusCode!, body: Buffer.concat(chunks).toString("utf8") };
  }

  test("a chunked body that fits is imported", async () => {
    const { Readable } = await import("node:stream");
    const res = await chunkedImport(short.url(`imp/chunked-${uniqueSuffix()}`), Readable.from([await smallArchive("chunked")]));
    expect(res.status).toBe(201);
  });

  test("a chunked body is held to the disk as it unpacks: refused with 507 once it would pass the reserve, its work directory removed", async () => {
    // 1 GiB of zeros, gzipped as they are generated: only what the server reads is ever made. At two
    // copies per byte, the 256 MiB of room run out after about 128 MiB unpacked.
    const res = await chunkedImport(short.url(`imp/chunked-${uniqueSuffix()}`), zerosArchive(1024 * MiB));
    expect(res.status).toBe(507);
    expect(JSON.parse(res.body).errors[0]).toMatchObject({ code: "UNAVAILABLE", detail: expect.stringMatching(/not enough disk space .*web\.importMinFreeBytes/) });
    await waitFor("the refused import's work directory to be removed", async () => (await short.dirs()).length === 0);
  });
});

/** A gzipped tar of one file of `size` zero bytes, produced as it is read. */
function zerosArchive(size: number): NodeJS.ReadableStream {
  const tar = tarPack();
  const gzip = createGzip({ level: 1 });
  tar.pipe(gzip);
  const entry = tar.entry({ name: "layer.tar", size }) as unknown as Writable;
  // The test destroys the stream once answered: the generator's half-written entry then fails, on purpose.
  const ignore = () => undefined;
  tar.on("error", ignore);
  entry.on("error", ignore);
  const zeros = Buffer.alloc(MiB);
  void (async () => {
    for (let left = size; left > 0 && !gzip.destroyed; left -= zeros.length) {
      if (!entry.write(zeros.subarray(0, Math.min(zeros.length, left)))) {
        await new Promise<void>((r) => {
          const go = () => {
            entry.off("drain", go);
            gzip.off("close", go);
            r();
          };
          entry.once("drain", go);
          gzip.once("close", go);
        });
      }
    }
    if (!gzip.destroyed) {
      entry.end();
      tar.finalize();
    }
  })();
  return gzip;
}
