// HTTPS: Berth serving TLS with a certificate made for the test, skopeo pushing and pulling with the CA
// trusted (--cert-dir, verification on), the token realm on https, the HTTP→HTTPS redirect listener and a
// certificate reload.
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { Agent, fetch } from "undici";
import { parseConfig } from "../../src/config";
import { createDeps, createLogger } from "../../src/deps";
import { startServer } from "../../src/server";
import { makeTestCertificates, type TestCertificates } from "../support/certificates";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { createTestDatabase } from "../support/postgres";
import { writeOciLayout, tinyImage, readLayoutTag, type OciLayout } from "../e2e/support/oci-layout";
import { run, CommandError } from "../e2e/support/process";
import { requireBinary } from "../e2e/support/tools";

const PASSWORD = "tls-admin-password";
let work: string;
let certs: TestCertificates;
let certDir: string;
let layout: OciLayout;
let registry: TestRegistry;
let agent: Agent;

beforeAll(async () => {
  requireBinary("skopeo");
  work = await mkdtemp(path.join(os.tmpdir(), "berth-tls-"));
  certs = await makeTestCertificates(path.join(work, "certs"));
  // skopeo's --cert-dir: *.crt files are trusted CAs.
  certDir = path.join(work, "trust");
  await mkdir(certDir);
  await copyFile(certs.caFile, path.join(certDir, "ca.crt"));
  layout = await writeOciLayout(path.join(work, "layout"), "v1", tinyImage());
  registry = await startTestRegistry({
    config: {
      tls: { certFile: certs.certFile, keyFile: certs.keyFile, redirectListen: "127.0.0.1:0" },
      auth: { enabled: true, adminPassword: PASSWORD },
    },
  });
  agent = new Agent({ connect: { ca: certs.ca } });
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function skopeo(args: string[]) {
  return run(requireBinary("skopeo"), ["--insecure-policy", ...args], { timeoutMs: 120_000 });
}

describe("TLS", () => {
  it("serves HTTPS with the configured certificate, and the token realm says https", async () => {
    expect(registry.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${registry.url}/v2/`, { dispatcher: agent });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="${registry.url}/token",service="berth"`);
    const token = await fetch(`${registry.url}/token?service=berth`, { dispatcher: agent, headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}` } });
    expect(token.status).toBe(200);
  });

  it("pushes and pulls with skopeo verifying the certificate against the test CA", async () => {
    const dest = `docker://${registry.host}/secure/app:v1`;
    await skopeo(["copy", "--dest-cert-dir", certDir, "--dest-creds", `admin:${PASSWORD}`, layout.ref, dest]);
    const out = path.join(work, "pulled");
    await skopeo(["copy", "--src-cert-dir", certDir, "--src-creds", `admin:${PASSWORD}`, dest, `oci:${out}:v1`]);
    expect((await readLayoutTag(out, "v1")).digest).toBe(layout.top.digest);
    const inspected = JSON.parse((await skopeo(["inspect", "--raw", "--cert-dir", certDir, "--creds", `admin:${PASSWORD}`, dest])).stdout.toString("utf8"));
    expect(inspected.schemaVersion).toBe(2);
  });

  it("is really verified: without the CA, skopeo refuses the certificate", async () => {
    const err = await skopeo(["inspect", "--raw", "--tls-verify=true", "--creds", `admin:${PASSWORD}`, `docker://${registry.host}/secure/app:v1`]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toMatch(/certificate|x509/i);
  });

  it("answers plain HTTP on the redirect listener with 308 to the same path over HTTPS", async () => {
    const running = registry.redirectAddress!;
    expect(running).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(`http://${running}/v2/secure/app/manifests/v1?x=1`, { headers: { host: `127.0.0.1:${running.split(":")[1]}` } }, resolve).on("error", reject),
    );
    res.resume();
    expect(res.statusCode).toBe(308);
    expect(res.headers.location).toBe(`${registry.url}/v2/secure/app/manifests/v1?x=1`);
  });

  it("refuses plain HTTP on the TLS port", async () => {
    await expect(fetch(registry.url.replace("https:", "http:") + "/v2/")).rejects.toThrow();
  });
});

describe("TLS certificate reload", () => {
  it("serves a renewed certificate to new connections after reloadTls (SIGHUP)", async () => {
    const dir = path.join(work, "reload");
    const first = await makeTestCertificates(dir, { name: "first" });
    const live = { certFile: path.join(dir, "live.crt"), keyFile: path.join(dir, "live.key") };
    await copyFile(first.certFile, live.certFile);
    await copyFile(first.keyFile, live.keyFile);
    const database = await createTestDatabase();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-tls-reload-"));
    const config = parseConfig({ listen: "127.0.0.1:0", dataDir, databaseUrl: database.url, logLevel: "silent", auth: { enabled: false }, tls: live });
    const deps = await createDeps(config, createLogger(config));
    const running = await startServer(deps);
    try {
      const serial = () =>
        new Promise<string>((resolve, reject) => {
          const socket = tls.connect({ host: "127.0.0.1", port: Number(running.address.split(":")[1]), ca: first.ca }, () => {
            resolve(socket.getPeerX509Certificate()!.serialNumber);
            socket.end();
          });
          socket.on("error", reject);
        });
      const before = await serial();
      const second = await makeTestCertificates(dir, { name: "second", ca: { certFile: first.caFile, keyFile: path.join(dir, "ca.key") } });
      await copyFile(second.certFile, live.certFile);
      await copyFile(second.keyFile, live.keyFile);
      expect(await serial()).toBe(before); // nothing changes until the reload
      running.reloadTls();
      const after = await serial();
      expect(after).not.toBe(before);
    } finally {
      await running.stop();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
