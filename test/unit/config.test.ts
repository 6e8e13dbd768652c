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
    [{ BERTH_STORAGE_FSYNC: "maybe" }, /BERTH_STORAGE_FSYNC/],
    [{ BERTH_STORAGE: "ftp" }, /storage.driver/],
    [{ BERTH_CONFIG: "/nonexistent/berth.yaml" }, /cannot read BERTH_CONFIG/],
  ])("refuses %j with a message naming the key", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
