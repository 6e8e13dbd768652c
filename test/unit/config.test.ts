import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "../../src/config";

describe("configuration", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "berth-config-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("has working defaults: embedded database, fs storage under ./data, loopback port 5000", () => {
    const config = loadConfig({});
    expect(config.listen).toBe("127.0.0.1:5000");
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe(path.resolve("data"));
    expect(config.storage).toEqual({ driver: "fs", fsync: true, root: path.resolve("data/storage") });
    expect(Object.isFrozen(config.storage)).toBe(true);
  });

  it("reads YAML, with environment variables winning", async () => {
    const file = path.join(dir, "berth.yaml");
    await writeFile(file, "listen: 0.0.0.0:6000\nstorage:\n  root: /srv/blobs\n  fsync: false\nlogLevel: debug\n");
    const config = loadConfig({ BERTH_CONFIG: file, BERTH_LISTEN: "127.0.0.1:7000", DATABASE_URL: "postgres://u@h/db" });
    expect(config.listen).toBe("127.0.0.1:7000");
    expect(config.storage.root).toBe("/srv/blobs");
    expect(config.storage.fsync).toBe(false);
    expect(config.logLevel).toBe("debug");
    expect(config.databaseUrl).toBe("postgres://u@h/db");
  });

  it("refuses unknown keys, naming them", async () => {
    const file = path.join(dir, "typo.yaml");
    await writeFile(file, "listne: 1.2.3.4:5\nstorage:\n  rot: /x\n");
    expect(() => loadConfig({ BERTH_CONFIG: file })).toThrow(/listne[\s\S]*storage.*rot|storage.*rot[\s\S]*listne/);
  });

  it("configures S3 from the BERTH_S3_* variables", () => {
    const config = loadConfig({
      BERTH_STORAGE: "s3",
      BERTH_S3_BUCKET: "registry",
      BERTH_S3_ENDPOINT: "http://minio:9000",
      BERTH_S3_REGION: "eu-central-1",
      BERTH_S3_FORCE_PATH_STYLE: "true",
      BERTH_S3_PREFIX: "berth/",
      BERTH_S3_REDIRECT: "yes",
      BERTH_S3_STORAGE_CLASS: "STANDARD_IA",
    });
    expect(config.storage.driver).toBe("s3");
    expect(config.storage.s3).toEqual({
      bucket: "registry",
      endpoint: "http://minio:9000",
      region: "eu-central-1",
      forcePathStyle: true,
      prefix: "berth/",
      redirect: true,
      redirectExpiresSeconds: 1200,
      storageClass: "STANDARD_IA",
      partSizeMiB: 8,
    });
  });

  it.each([
    [{ BERTH_STORAGE: "s3" }, /storage.s3.bucket/],
    [{ BERTH_STORAGE: "s3", BERTH_S3_BUCKET: "b", BERTH_S3_ENDPOINT: "not a url" }, /storage.s3.endpoint/],
    [{ BERTH_STORAGE: "s3", BERTH_S3_BUCKET: "b", BERTH_S3_REDIRECT: "sometimes" }, /BERTH_S3_REDIRECT/],
  ])("refuses an incomplete S3 configuration %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each([
    [{ BERTH_LISTEN: "5000" }, /listen/],
    [{ DATABASE_URL: "mysql://x" }, /databaseUrl/],
    [{ BERTH_LOG_LEVEL: "loud" }, /logLevel/],
    [{ BERTH_LOG_FORMAT: "colourful" }, /logFormat: .*"auto"\|"json"\|"pretty"/],
    [{ BERTH_STORAGE_FSYNC: "maybe" }, /BERTH_STORAGE_FSYNC/],
    [{ BERTH_STORAGE: "ftp" }, /storage.driver/],
    [{ BERTH_CONFIG: "/nonexistent/berth.yaml" }, /cannot read BERTH_CONFIG/],
    [{ BERTH_TLS_CERT: "/etc/cert.pem" }, /tls\.keyFile/],
    [{ BERTH_TLS_CERT: "/c", BERTH_TLS_KEY: "/k", BERTH_TLS_REDIRECT_LISTEN: "80" }, /tls\.redirectListen: must be host:port/],
    [{ BERTH_TRUSTED_PROXIES: "10.0.0.0/8,banana" }, /trustedProxies\.1: must be an IP address/],
    [{ BERTH_TRUSTED_PROXIES: "10.0.0.0/33" }, /trustedProxies\.0/],
    [{ BERTH_MAX_HEADER_BYTES: "12" }, /http\.maxHeaderBytes/],
    [{ BERTH_MAX_BLOB_BYTES: "lots" }, /BERTH_MAX_BLOB_BYTES: must be a number/],
    [{ BERTH_REQUEST_TIMEOUT: "0" }, /http\.requestTimeoutSeconds/],
    [{ BERTH_RATE_LIMIT: "sometimes" }, /BERTH_RATE_LIMIT: must be true or false/],
    [{ BERTH_RATE_LIMIT_RPS: "-1" }, /rateLimit\.requestsPerSecond/],
    [{ BERTH_METRICS_TOKEN: "short" }, /metrics\.token: must be at least 16 characters/],
    [{ BERTH_WEBHOOK_URL: "ftp://x" }, /notifications\.endpoints\.0\.url/],
    [{ BERTH_WEBHOOK_URL: "http://hooks.test/x", BERTH_WEBHOOK_ACTIONS: "push,build" }, /notifications\.endpoints\.0\.actions\.1/],
    [{ BERTH_WEBHOOK_URL: "http://hooks.test/x", BERTH_WEBHOOK_SECRET: "tiny" }, /notifications\.endpoints\.0\.secret/],
  ])("refuses %j with a message naming the key", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("refuses unknown and bad keys in the operations sections of the YAML file, naming each", async () => {
    const file = path.join(dir, "ops.yaml");
    await writeFile(
      file,
      [
        "tls: { certFile: /c, keyFile: /k, ciphers: all }",
        "http: { maxHeaderByte: 1 }",
        "rateLimit: { burst: 0 }",
        "metrics: { enabled: maybe }",
        "notifications:",
        "  endpoints:",
        "    - { name: a, url: 'http://h/x' }",
        "    - { name: a, url: 'http://h/y', retries: 3 }",
      ].join("\n"),
    );
    let message = "";
    try {
      loadConfig({ BERTH_CONFIG: file });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    for (const key of ["tls.ciphers", "http.maxHeaderByte", "rateLimit.burst", "metrics.enabled", "notifications.endpoints.1.retries"]) {
      expect(message).toContain(key);
    }
  });

  it("reads the operations settings from YAML and the environment", async () => {
    const file = path.join(dir, "ops-ok.yaml");
    await writeFile(file, "notifications:\n  endpoints:\n    - { name: ci, url: 'https://ci.test/hook', actions: [push], repositories: ['team/*'] }\n");
    const config = loadConfig({
      BERTH_CONFIG: file,
      BERTH_TLS_CERT: "/etc/berth/cert.pem",
      BERTH_TLS_KEY: "/etc/berth/key.pem",
      BERTH_TRUSTED_PROXIES: "10.0.0.0/8, loopback",
      BERTH_RATE_LIMIT: "on",
      BERTH_RATE_LIMIT_RPS: "2.5",
      BERTH_WEBHOOK_URL: "http://hooks.test/berth",
      BERTH_WEBHOOK_SECRET: "0123456789abcdef",
    });
    expect(config.tls).toEqual({ certFile: "/etc/berth/cert.pem", keyFile: "/etc/berth/key.pem", minVersion: "TLSv1.2" });
    expect(config.trustedProxies).toEqual(["10.0.0.0/8", "loopback"]);
    expect(config.rateLimit).toEqual({ enabled: true, requestsPerSecond: 2.5, burst: 200 });
    expect(config.http).toMatchObject({ maxHeaderBytes: 16384, maxBlobBytes: 0, requestTimeoutSeconds: 120 });
    expect(config.notifications.endpoints.map((e) => [e.name, e.url, e.actions, e.secret])).toEqual([
      ["ci", "https://ci.test/hook", ["push"], undefined],
      ["default", "http://hooks.test/berth", ["push", "pull", "delete"], "0123456789abcdef"],
    ]);
    expect(loadConfig({}).tls).toBeUndefined();
    expect(loadConfig({}).metrics).toEqual({ enabled: true });
  });
});
