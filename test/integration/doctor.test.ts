// `berth doctor` as users run it (the compiled dist/main.js, built by `npm test`'s pretest): all green on a
// healthy set-up, one FAIL line per broken dependency with exit code 1, exit code 2 on a config error.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { makeTestCertificates, type TestCertificates } from "../support/certificates";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestRegistry, type TestRegistry } from "../support/registry";

const MAIN = path.resolve(__dirname, "../../dist/main.js");
const exec = promisify(execFile);

async function berth(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("BERTH_") && k !== "DATABASE_URL"));
  try {
    const { stdout, stderr } = await exec("node", [MAIN, ...args], { env: { ...clean, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("berth doctor", () => {
  let work: string;
  let certs: TestCertificates;
  let other: TestCertificates;
  let database: TestDatabase;
  let upstream: TestRegistry;
  let receiver: http.Server;
  let receiverUrl: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "berth-doctor-"));
    certs = await makeTestCertificates(path.join(work, "certs"), { days: 60 });
    other = await makeTestCertificates(path.join(work, "other"));
    database = await createTestDatabase();
    upstream = await startTestRegistry();
    receiver = http.createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}/hook`;
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
    await upstream?.stop();
    await database?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("reports every check ok on a healthy set-up and exits 0", async () => {
    const env = {
      BERTH_DATA_DIR: path.join(work, "data-ok"),
      DATABASE_URL: database.url,
      BERTH_TLS_CERT: certs.certFile,
      BERTH_TLS_KEY: certs.keyFile,
      BERTH_EXTERNAL_URL: "https://127.0.0.1:5000",
      BERTH_MIRROR_UPSTREAM: upstream.url,
      BERTH_WEBHOOK_URL: receiverUrl,
      BERTH_WEBHOOK_SECRET: "doctor-webhook-secret",
    };
    expect((await berth(["migrate"], env)).code).toBe(0);
    const { code, stdout } = await berth(["doctor"], env);
    expect({ code, stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/\nno problems\n$/) });
    expect(stdout).toMatch(/^ok {4}config {2,}valid; listening on https:\/\/127\.0\.0\.1:5000, database postgres, storage fs, auth on$/m);
    expect(stdout).toMatch(/^ok {4}data dir .* is writable$/m);
    expect(stdout).toMatch(/^ok {4}tls .*IP Address:127\.0\.0\.1.* expires in 59 days .*key matches$/m);
    expect(stdout).toMatch(/^ok {4}database .*PostgreSQL \d+.* answers$/m);
    expect(stdout).toMatch(/^ok {4}database .*schema up to date/m);
    expect(stdout).toMatch(/^ok {4}storage .*filesystem storage at .* writes, reads and deletes$/m);
    expect(stdout).toMatch(/^ok {4}upstream default .*answers 200/m);
    expect(stdout).toMatch(/^ok {4}webhook default .*accepts connections$/m);
    expect(stdout).not.toMatch(/^(warn|FAIL)/m);
  });

  it("fails on a stored GC schedule the server cannot arm (saved before the API refused it)", async () => {
    const env = { BERTH_DATA_DIR: path.join(work, "data-settings"), DATABASE_URL: database.url };
    expect((await berth(["migrate"], env)).code).toBe(0);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(`INSERT INTO setting (key, value) VALUES ('gc.schedule', '"0 0 31 2 *"')`);
      const { code, stdout } = await berth(["doctor"], env);
      expect(code).toBe(1);
      expect(stdout).toMatch(/^FAIL {2}settings .*gc\.schedule: schedule "0 0 31 2 \*" never comes due.*scheduled garbage collection is off/m);
    } finally {
      await client.query(`DELETE FROM setting WHERE key = 'gc.schedule'`);
      await client.end();
    }
    expect((await berth(["doctor"], env)).stdout).toMatch(/^ok {4}settings .*stored settings are valid$/m);
  });

  it("prints one FAIL line per broken dependency and exits 1", async () => {
    const notADir = path.join(work, "a-file");
    await writeFile(notADir, "storage cannot live under a file");
    const env = {
      BERTH_DATA_DIR: path.join(work, "data-bad"),
      DATABASE_URL: `postgres://berth:secret@127.0.0.1:${await closedPort()}/berth`,
      BERTH_STORAGE_ROOT: path.join(notADir, "storage"),
      BERTH_TLS_CERT: certs.certFile,
      BERTH_TLS_KEY: other.keyFile,
      BERTH_MIRROR_UPSTREAM: `http://127.0.0.1:${await closedPort()}`,
      BERTH_WEBHOOK_URL: `http://127.0.0.1:${await closedPort()}/hook`,
    };
    const { code, stdout } = await berth(["doctor"], env);
    expect({ code }).toEqual({ code: 1 });
    expect(stdout).toMatch(/^FAIL {2}database .*cannot connect to postgres:\/\/berth:\*\*\*@127\.0\.0\.1:\d+\/berth: .*ECONNREFUSED/m);
    expect(stdout).not.toContain("secret@");
    expect(stdout).toMatch(/^FAIL {2}tls .*does not belong to the certificate/m);
    expect(stdout).toMatch(/^FAIL {2}storage .*cannot write and read back a probe file/m);
    expect(stdout).toMatch(/^FAIL {2}upstream default .*unreachable/m);
    expect(stdout).toMatch(/^FAIL {2}webhook default .*unreachable/m);
    expect(stdout).toMatch(/^warn {2}config .*webhook default has no secret/m);
    expect(stdout).toMatch(/\n5 problem\(s\), 1 warning\(s\)\n$/);
  });

  it("checks an upstream named by a host that resolves to a private address as pulls would: refused unless allowed", async () => {
    // os.hostname() resolves to this machine (loopback or its private address), the way an internal name would.
    const env = { BERTH_DATA_DIR: path.join(work, "data-named"), BERTH_MIRROR_UPSTREAM: `http://${os.hostname()}:${upstream.host.split(":")[1]}` };
    const refused = await berth(["doctor"], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^FAIL {2}upstream default .*refused to connect to .* it is a (loopback|private) address; set allowPrivateNetworks/m);
    const allowed = await berth(["doctor"], { ...env, BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS: "true" });
    expect(allowed.stdout).toMatch(/^ok {4}upstream default .*answers 200/m);
  });

  it("warns about risky settings, checks a fresh embedded database, and refuses bad configuration with exit 2", async () => {
    const fresh = await berth(["doctor"], { BERTH_DATA_DIR: path.join(work, "data-fresh"), BERTH_LISTEN: "0.0.0.0:5000", BERTH_AUTH: "off" });
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/^ok {4}database .*embedded database .* does not exist yet/m);
    expect(fresh.stdout).toMatch(/^warn {2}config .*serving plain HTTP on 0\.0\.0\.0:5000/m);
    expect(fresh.stdout).toMatch(/^warn {2}config .*auth is off/m);
    expect(fresh.stdout).toMatch(/^warn {2}config .*\/metrics is open/m);

    // A mirror that logs in upstream: anonymous pull is off unless asked for, and then a warning.
    const mirrorEnv = { BERTH_DATA_DIR: path.join(work, "data-fresh"), BERTH_MIRROR_UPSTREAM: upstream.url, BERTH_MIRROR_USERNAME: "bot", BERTH_MIRROR_PASSWORD: "bot-secret", BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS: "true" };
    expect((await berth(["doctor"], mirrorEnv)).stdout).not.toMatch(/anonymousPull/);
    const yaml = path.join(work, "anonymous-pull.yaml");
    await writeFile(yaml, "mirror:\n  anonymousPull: true\n");
    expect((await berth(["doctor"], { ...mirrorEnv, BERTH_CONFIG: yaml })).stdout).toMatch(/^warn {2}config .*mirror\.anonymousPull is on while upstream default has credentials/m);

    // An existing embedded database that no Berth holds open is opened (not migrated) and compared.
    const embedded = { BERTH_DATA_DIR: path.join(work, "data-embedded") };
    expect((await berth(["migrate"], embedded)).code).toBe(0);
    const opened = await berth(["doctor"], embedded);
    expect(opened.code).toBe(0);
    expect(opened.stdout).toMatch(/^ok {4}database .*embedded database .* opens and answers$/m);
    expect(opened.stdout).toMatch(/^ok {4}database .*schema up to date/m);

    const missing = await berth(["doctor"], { BERTH_DATA_DIR: path.join(work, "data-tls"), BERTH_TLS_CERT: path.join(work, "nope.crt"), BERTH_TLS_KEY: certs.keyFile });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^FAIL {2}tls .*cannot read tls\.certFile .*nope\.crt/m);

    // A certificate that runs out within two weeks is a warning, not yet a failure.
    const soon = await makeTestCertificates(path.join(work, "soon"), { days: 3 });
    const expiring = await berth(["doctor"], { BERTH_DATA_DIR: path.join(work, "data-soon"), BERTH_TLS_CERT: soon.certFile, BERTH_TLS_KEY: soon.keyFile });
    expect(expiring.code).toBe(0);
    expect(expiring.stdout).toMatch(/^warn {2}tls .*expires in 2 days/m);

    const bad = await berth(["doctor"], { BERTH_RATE_LIMIT_BURST: "0" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/rateLimit\.burst/);
  });
});
