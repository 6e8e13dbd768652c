// The effective configuration of the Settings page: where each value came from (YAML file, environment,
// default, UI), and masking driven by the schema's secret marks, URLs included.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig, parseConfig } from "../../src/config";
import { effectiveConfig, MASK } from "../../src/config/effective";

let dir: string;
let yamlFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "berth-effective-"));
  yamlFile = path.join(dir, "berth.yaml");
  await writeFile(
    yamlFile,
    [
      "auth:",
      "  tokenTtlSeconds: 600",
      "  projectCreation: admins",
      "mirror:",
      "  upstreams:",
      "    - name: hub",
      "      url: https://registry-1.docker.io",
      "      prefix: hub",
      "      username: robot",
      "      password: yaml-upstream-password",
    ].join("\n"),
  );
});

afterAll(() => rm(dir, { recursive: true, force: true }));

const byKey = (entries: ReturnType<typeof effectiveConfig>) => new Map(entries.map((e) => [e.key, e]));

test("sources: the YAML file, an environment variable over it, the schema default, a UI value", () => {
  const config = loadConfig({ BERTH_CONFIG: yamlFile, BERTH_TOKEN_TTL: "900", BERTH_WEBHOOK_URL: "https://hooks.example/T0/B1/secret-path", BERTH_WEBHOOK_SECRET: "env-webhook-secret-0123" });
  const entries = byKey(effectiveConfig(config, new Map([["auth.projectCreation", "everyone"]])));
  expect(entries.get("auth.tokenTtlSeconds")).toMatchObject({ value: 900, source: "env" });
  expect(entries.get("mirror.upstreams.0.username")).toMatchObject({ value: "robot", source: "yaml", secret: false });
  expect(entries.get("mirror.upstreams.0.password")).toMatchObject({ value: MASK, source: "yaml", secret: true });
  expect(entries.get("notifications.endpoints.0.secret")).toMatchObject({ value: MASK, source: "env", secret: true });
  expect(entries.get("notifications.endpoints.0.url")).toMatchObject({ value: `https://hooks.example/${MASK}`, source: "env" });
  expect(entries.get("auth.loginFailures")).toMatchObject({ value: 5, source: "default" });
  expect(entries.get("auth.projectCreation")).toMatchObject({ value: "everyone", source: "ui" });
  const text = JSON.stringify([...entries.values()]);
  expect(text).not.toContain("yaml-upstream-password");
  expect(text).not.toContain("env-webhook-secret-0123");
  expect(text).not.toContain("secret-path");
});

test.each([
  ["postgres://berth:p%40ss@db:5432/berth", `postgres://berth:${MASK}@db:5432/berth`],
  ["postgres://berth@db/berth?password=hunter2&sslmode=require", `postgres://${MASK}@db/berth?password=${MASK}&sslmode=${MASK}`],
  ["postgres://db/berth", "postgres://db/berth"],
  ["postgres://user:p@ss:word@db/berth", `postgres://user:${MASK}@db/berth`],
  ["postgres://token-as-user@db/berth", `postgres://${MASK}@db/berth`],
  ["postgresql://u:secret@[::1]:5432/db#frag-secret", `postgresql://u:${MASK}@[::1]:5432/db#${MASK}`],
])("a database URL %s is shown as %s", (databaseUrl, shown) => {
  const entries = byKey(effectiveConfig(parseConfig({ databaseUrl })));
  expect(entries.get("databaseUrl")).toMatchObject({ value: shown, secret: true, source: "yaml" });
});

test("every key the schema marks secret is masked, whatever its name", () => {
  const config = parseConfig({
    auth: { adminPassword: "admin-password-1" },
    storage: { s3: { bucket: "b", accessKeyId: "key-id-2", secretAccessKey: "secret-key-3", sessionToken: "session-4" } },
    metrics: { token: "metrics-token-5-long-enough" },
    notifications: { endpoints: [{ name: "e", url: "https://h.example/", headers: { "X-Anything": "header-6" } }] },
  });
  const entries = effectiveConfig(config);
  const text = JSON.stringify(entries);
  for (const secret of ["admin-password-1", "key-id-2", "secret-key-3", "session-4", "metrics-token-5", "header-6"]) expect(text).not.toContain(secret);
  expect(byKey(entries).get("notifications.endpoints.0.headers.X-Anything")).toMatchObject({ value: MASK, secret: true });
  expect(byKey(entries).get("notifications.endpoints.0.url")).toMatchObject({ value: "https://h.example", secret: true });
  // Unset secrets are shown as unset, not as a mask.
  expect(byKey(effectiveConfig(parseConfig({}))).get("auth.adminPassword")).toMatchObject({ value: null, secret: true, source: "default" });
});
