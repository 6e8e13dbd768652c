import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { GcConfigSchema, ImmutableTagRuleSchema, RetentionRuleSchema } from "./gc/config";

/**
 * Typed, validated, frozen configuration. Sources, later winning: defaults, the YAML file named by
 * BERTH_CONFIG, environment variables. Unknown keys and bad values stop start-up with the key's name.
 */
const ConfigSchema = z
  .object({
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "must be host:port, e.g. 127.0.0.1:5000")
      .default("127.0.0.1:5000"),
    dataDir: z.string().min(1).default("./data"),
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL").optional(),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    storage: z
      .object({
        driver: z.enum(["fs"]).default("fs"),
        /** Defaults to <dataDir>/storage. */
        root: z.string().min(1).optional(),
        fsync: z.boolean().default(true),
      })
      .strict()
      .default({ driver: "fs", fsync: true }),
    shutdownTimeoutSeconds: z.number().int().min(0).default(30),
    /** Garbage collection; retention and immutability rules apply per project. See src/gc/config.ts. */
    gc: GcConfigSchema,
    retention: z.array(RetentionRuleSchema).default([]),
    immutableTags: z.array(ImmutableTagRuleSchema).default([]),
  })
  .strict();

export type Config = Readonly<z.infer<typeof ConfigSchema>> & { readonly storage: Readonly<z.infer<typeof ConfigSchema>["storage"]> };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Environment variable → config key path. Kept stable: scripts and tooling rely on these names. */
const ENV_KEYS: Record<string, { path: string[]; type: "string" | "boolean" | "number" }> = {
  BERTH_LISTEN: { path: ["listen"], type: "string" },
  BERTH_DATA_DIR: { path: ["dataDir"], type: "string" },
  DATABASE_URL: { path: ["databaseUrl"], type: "string" },
  BERTH_LOG_LEVEL: { path: ["logLevel"], type: "string" },
  BERTH_STORAGE: { path: ["storage", "driver"], type: "string" },
  BERTH_STORAGE_ROOT: { path: ["storage", "root"], type: "string" },
  BERTH_STORAGE_FSYNC: { path: ["storage", "fsync"], type: "boolean" },
  BERTH_SHUTDOWN_TIMEOUT: { path: ["shutdownTimeoutSeconds"], type: "number" },
  BERTH_GC_SCHEDULE: { path: ["gc", "schedule"], type: "string" },
  BERTH_GC_GRACE: { path: ["gc", "grace"], type: "string" },
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): Config {
  const raw: Record<string, unknown> = env.BERTH_CONFIG ? readYaml(env.BERTH_CONFIG) : {};
  for (const [name, spec] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    setPath(raw, spec.path, convert(name, value, spec.type));
  }
  return parseConfig(deepMerge(raw, overrides));
}

export function parseConfig(raw: unknown): Config {
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = [...issue.path, ...("keys" in issue ? [(issue.keys as string[]).join(", ")] : [])].join(".");
      return `  ${key || "(root)"}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${problems.join("\n")}`);
  }
  const config = result.data;
  return deepFreeze({
    ...config,
    dataDir: resolve(config.dataDir),
    storage: { ...config.storage, root: resolve(config.storage.root ?? `${config.dataDir}/storage`) },
  });
}

function readYaml(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read BERTH_CONFIG file ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`BERTH_CONFIG file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new ConfigError(`BERTH_CONFIG file ${path} must hold a mapping`);
  return value as Record<string, unknown>;
}

function convert(name: string, value: string, type: "string" | "boolean" | "number"): unknown {
  if (type === "string") return value;
  if (type === "boolean") {
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    throw new ConfigError(`invalid configuration:\n  ${name}: must be true or false, got ${JSON.stringify(value)}`);
  }
  const n = Number(value);
  if (!Number.isFinite(n)) throw new ConfigError(`invalid configuration:\n  ${name}: must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      isPlainObject(value) && isPlainObject(current) ? deepMerge(current, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (isPlainObject(value)) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
