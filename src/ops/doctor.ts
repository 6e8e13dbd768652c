import { createPrivateKey, randomUUID, X509Certificate } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { Agent, fetch, ProxyAgent } from "undici";
import { anonymousMirrorPullWarning, type Config, type UpstreamConfig } from "../config";
import { probeDatabase } from "../metadata/database-check";
import { SqlSettingStore } from "../metadata/settings-store";
import { storedGcSettingProblems } from "../gc/gc-settings";
import { NetworkGuard } from "../proxy/network-guard";
import { createStorageDriver } from "../storage/factory";
import { unbracketHost } from "../kernel/addresses";

export type Severity = "ok" | "warn" | "fail";

export interface Finding {
  area: string;
  severity: Severity;
  message: string;
}

/**
 * `berth doctor`: checks what a running Berth depends on without changing anything but a probe file in
 * storage (written, read back, deleted) — the database is not migrated, only compared with the migrations.
 */
export async function runDoctor(config: Config, options: { timeoutMs?: number } = {}): Promise<Finding[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const findings: Finding[] = [];
  const add = (area: string, severity: Severity, message: string) => findings.push({ area, severity, message });
  const guard = async (area: string, check: () => Promise<void>) => {
    try {
      await check();
    } catch (err) {
      add(area, "fail", (err as Error)?.message ?? String(err));
    }
  };

  checkConfig(config, add);
  await guard("data dir", () => checkDataDir(config, add));
  if (config.tls) await guard("tls", () => checkTls(config, add));
  if (config.auth.signingKeyFile) await guard("auth", () => checkKeyFile(config.auth.signingKeyFile!, add));
  await guard("database", () => checkDatabase(config, timeoutMs, add));
  await guard("storage", () => checkStorage(config, add));
  for (const upstream of config.mirror.upstreams) {
    await guard(`upstream ${upstream.name}`, () => checkUpstream(upstream, config.mirror.httpProxy, timeoutMs, add));
  }
  for (const endpoint of config.notifications.endpoints) {
    await guard(`webhook ${endpoint.name}`, () => checkEndpoint(endpoint.name, endpoint.url, timeoutMs, add));
  }
  return findings;
}

type Add = (area: string, severity: Severity, message: string) => void;

function checkConfig(config: Config, add: Add): void {
  const host = unbracketHost(config.listen.slice(0, config.listen.lastIndexOf(":")));
  const loopback = host === "localhost" || host === "::1" || host.startsWith("127.");
  add(
    "config",
    "ok",
    `valid; listening on ${config.tls ? "https" : "http"}://${config.listen}, database ${config.databaseUrl ? "postgres" : "embedded"}, ` +
      `storage ${config.storage.driver}, auth ${config.auth.enabled ? "on" : "off"}`,
  );
  if (!loopback && !config.tls && !config.externalUrl?.startsWith("https://")) {
    add("config", "warn", `serving plain HTTP on ${config.listen}: Docker refuses it unless listed in insecure-registries; configure tls or a TLS proxy (and externalUrl)`);
  }
  if (!loopback && !config.auth.enabled) add("config", "warn", `auth is off on the non-loopback address ${config.listen}: anyone who can reach it may push and delete`);
  if (config.tls && config.externalUrl?.startsWith("http://")) add("config", "warn", `externalUrl ${config.externalUrl} is http:// while Berth serves HTTPS`);
  if (!loopback && config.metrics.enabled && !config.metrics.token) add("config", "warn", "/metrics is open to anyone who can reach Berth; set metrics.token or filter it at the proxy");
  const anonymousPull = anonymousMirrorPullWarning(config);
  if (anonymousPull) add("config", "warn", anonymousPull);
  if (config.trustedProxies.includes("any")) add("config", "warn", "trustedProxies includes `any`: every client can set its own address with X-Forwarded-For");
  for (const e of config.notifications.endpoints) {
    if (!e.secret) add("config", "warn", `webhook ${e.name} has no secret: receivers cannot verify that notifications come from Berth`);
  }
}

async function checkDataDir(config: Config, add: Add): Promise<void> {
  await mkdir(config.dataDir, { recursive: true });
  const probe = path.join(config.dataDir, `.doctor-${randomUUID()}`);
  await writeFile(probe, "ok");
  await rm(probe, { force: true });
  add("data dir", "ok", `${config.dataDir} is writable`);
}

async function checkTls(config: Config, add: Add): Promise<void> {
  const tls = config.tls!;
  const certPem = await readFile(tls.certFile).catch((err) => {
    throw new Error(`cannot read tls.certFile ${tls.certFile}: ${err.message}`);
  });
  const keyPem = await readFile(tls.keyFile).catch((err) => {
    throw new Error(`cannot read tls.keyFile ${tls.keyFile}: ${err.message}`);
  });
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`tls.certFile ${tls.certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`tls.keyFile ${tls.keyFile} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw new Error(`tls.keyFile ${tls.keyFile} does not belong to the certificate in ${tls.certFile}`);
  const expires = new Date(cert.validTo);
  const days = Math.floor((expires.getTime() - Date.now()) / 86_400_000);
  if (days < 0) throw new Error(`the certificate expired on ${expires.toISOString()}`);
  if (new Date(cert.validFrom).getTime() > Date.now()) add("tls", "warn", `the certificate is not valid before ${cert.validFrom}`);
  const subject = cert.subjectAltName ?? cert.subject;
  add("tls", days < 14 ? "warn" : "ok", `certificate for ${subject.replace(/\n/g, ", ")} expires in ${days} days (${expires.toISOString().slice(0, 10)}); key matches`);
  if (config.externalUrl) {
    const host = new URL(config.externalUrl).hostname;
    const matches = net.isIP(host) ? cert.checkIP(host) : cert.checkHost(host);
    if (!matches) add("tls", "warn", `the certificate does not name ${host} (externalUrl): clients will refuse it`);
  }
  if (tls.redirectListen) add("tls", "ok", `plain HTTP on ${tls.redirectListen} redirects to HTTPS`);
}

async function checkKeyFile(file: string, add: Add): Promise<void> {
  const pem = await readFile(file).catch((err) => {
    throw new Error(`cannot read auth.signingKeyFile ${file}: ${err.message}`);
  });
  try {
    createPrivateKey(pem);
  } catch (err) {
    throw new Error(`auth.signingKeyFile ${file} is not a PEM private key: ${(err as Error).message}`);
  }
  add("auth", "ok", `token signing key ${file} is readable`);
}

async function checkDatabase(config: Config, timeoutMs: number, add: Add): Promise<void> {
  await probeDatabase(
    { url: config.databaseUrl, where: config.databaseUrl ? redactUrl(config.databaseUrl) : "", dataDir: config.dataDir, timeoutMs, describe },
    (severity, message) => add("database", severity, message),
    async (session) => {
      // A stored setting the server cannot use is ignored or switched off there (with a logged error): said here too.
      const problems = storedGcSettingProblems(await new SqlSettingStore(session).all());
      for (const problem of problems) add("settings", "fail", problem);
      if (!problems.length) add("settings", "ok", "stored settings are valid");
    },
  );
}

async function checkStorage(config: Config, add: Add): Promise<void> {
  const driver = createStorageDriver(config);
  const probe = `_berth/doctor-${randomUUID()}`;
  const data = Buffer.from(`berth doctor ${new Date().toISOString()}`);
  try {
    await driver.putContent(probe, data);
    const back = await driver.getContent(probe);
    if (!back.equals(data)) throw new Error("storage returned different bytes than were written");
  } catch (err) {
    throw new Error(`${driver.name} storage cannot write and read back a probe file: ${describe(err)}`);
  } finally {
    await driver.delete(probe).catch(() => undefined);
  }
  add("storage", "ok", `${driver.name} storage${config.storage.driver === "fs" ? ` at ${config.storage.root}` : ""} writes, reads and deletes`);
}

async function checkUpstream(upstream: UpstreamConfig, httpProxy: string | undefined, timeoutMs: number, add: Add): Promise<void> {
  const area = `upstream ${upstream.name}`;
  // The mirror's own network guard: an upstream whose name resolves where pulls may not go fails here too.
  const dispatcher = httpProxy ? new ProxyAgent({ uri: httpProxy }) : new Agent({ connect: new NetworkGuard(upstream).connector({}) });
  try {
    const res = await fetch(`${upstream.url}/v2/`, {
      dispatcher,
      signal: AbortSignal.timeout(Math.min(timeoutMs, upstream.timeoutSeconds * 1000)),
      headers: { "User-Agent": "berth-doctor" },
    }).catch((err) => {
      throw new Error(`${upstream.url} is unreachable${httpProxy ? ` through ${redactUrl(httpProxy)}` : ""}: ${describe(err)}`);
    });
    await res.body?.cancel();
    if (res.status === 200 || res.status === 401) add(area, "ok", `${upstream.url}/v2/ answers ${res.status} (a registry)`);
    else add(area, "warn", `${upstream.url}/v2/ answers ${res.status}; is it a registry?`);
  } finally {
    await dispatcher.close();
  }
}

/** Only a TCP (or TLS port) connection: a test POST could set off a receiver's automation. */
async function checkEndpoint(name: string, url: string, timeoutMs: number, add: Add): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: unbracketHost(u.hostname), port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("timeout", () => {
      socket.destroy();
      reject(new Error(`${u.host} does not accept connections within ${timeoutMs} ms`));
    });
    socket.once("error", (err) => reject(new Error(`${u.host} is unreachable: ${describe(err)}`)));
  });
  add(`webhook ${name}`, "ok", `${u.host} accepts connections`);
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { message?: string; code?: string }; errors?: Array<{ message: string }> };
  if (e?.errors?.length) return e.errors.map((x) => x.message).join("; ");
  const own = e?.message || e?.code || String(err);
  const cause = e?.cause?.message || e?.cause?.code;
  return cause && !own.includes(cause) ? `${own} (${cause})` : own;
}

/** The report as printed: one line per finding, then a summary line. */
export function formatFindings(findings: Finding[]): string {
  const label = { ok: "ok  ", warn: "warn", fail: "FAIL" } as const;
  const width = Math.max(...findings.map((f) => f.area.length), 8);
  const lines = findings.map((f) => `${label[f.severity]}  ${f.area.padEnd(width)}  ${f.message}`);
  const fails = findings.filter((f) => f.severity === "fail").length;
  const warns = findings.filter((f) => f.severity === "warn").length;
  lines.push("", fails ? `${fails} problem(s), ${warns} warning(s)` : warns ? `no problems, ${warns} warning(s)` : "no problems");
  return lines.join("\n");
}
