import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { literalHostScope } from "../kernel/addresses";
import { byteSize, duration, GcConfigSchema, ImmutableTagRuleSchema, RetentionRuleSchema } from "./gc";
import { compilesWith, glob } from "../kernel/patterns";
import { recordProvenance } from "./provenance";
import { secret } from "./secrets";
import { applyOpsEnv, OPS_CONFIG_SHAPE, OPS_ENV_KEYS, splitList, type EnvType } from "./ops";

/**
 * Typed, validated, frozen configuration. Sources, later winning: defaults, the YAML file named by
 * BERTH_CONFIG, environment variables. Unknown keys and bad values stop start-up with the key's name.
 */
const UpstreamSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be lower-case letters, digits and dashes"),
    url: secret(z.string().regex(/^https?:\/\/[^/]+$/, "must be like https://registry-1.docker.io (no path)"), "url"),
    /**
     * Names under this prefix are mirrored from this upstream ("ghcr.io" serves /v2/ghcr.io/owner/img).
     * The empty prefix makes it the default, docker.io-style upstream for names no local project owns.
     */
    prefix: z.string().regex(/^$|^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/, "must be empty or a path like ghcr.io"),
    /** The registry host clients call this upstream by (containerd's ?ns=), e.g. docker.io. */
    registry: z.string().optional(),
    username: z.string().optional(),
    password: secret(z.string()).optional(),
    /**
     * Hosts besides the upstream's own that may receive its credentials: a token service on another host
     * (Docker Hub's auth.docker.io and GitLab's gitlab.com are known without being listed).
     */
    credentialHosts: z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+)(:\d{1,5})?$/, "must be a host or host:port, e.g. auth.example.com")).default([]),
    /**
     * Let this upstream's token service and redirects, and the addresses its host name resolves to, be on
     * loopback and private networks. Off, Berth goes only to public addresses for it (and to the upstream's
     * own address when its URL names one literally), so an upstream cannot aim Berth at its own network.
     */
    allowPrivateNetworks: z.boolean().default(false),
    tagTtlSeconds: z.number().int().min(0).default(300),
    /** How long cached tags may still be served while the upstream fails. */
    maxStalenessSeconds: z.number().int().min(0).default(7 * 24 * 3600),
    timeoutSeconds: z.number().int().min(1).default(30),
    /** Glob patterns over upstream repository names ("library/*"); empty allows all. Deny wins. */
    allow: z.array(z.string().superRefine(compilesWith(glob))).default([]),
    deny: z.array(z.string().superRefine(compilesWith(glob))).default([]),
  })
  .strict()
  .superRefine((upstream, ctx) => {
    // Berth connects to an upstream's literal address as written, so one it must never reach is refused here.
    const scope = URL.canParse(upstream.url) ? literalHostScope(new URL(upstream.url).hostname) : null;
    if (scope === null || scope === "public" || scope === "loopback" || scope === "private") return;
    ctx.addIssue({ code: "custom", path: ["url"], message: `${upstream.url} is a ${scope} address, which Berth never connects to` });
  });
/** The S3 driver's settings (see src/storage/s3.ts); credentials default to the AWS SDK's chain. */
const S3Schema = z
  .object({
    bucket: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
    endpoint: secret(z.string().url(), "url").optional(),
    forcePathStyle: z.boolean().default(false),
    prefix: z.string().default(""),
    storageClass: z.string().min(1).optional(),
    redirect: z.boolean().default(false),
    redirectExpiresSeconds: z.number().int().min(1).max(7 * 24 * 3600).default(1200),
    accessKeyId: secret(z.string().min(1)).optional(),
    secretAccessKey: secret(z.string().min(1)).optional(),
    sessionToken: secret(z.string().min(1)).optional(),
    partSizeMiB: z.number().int().min(5).max(5120).default(8),
  })
  .strict()
  .refine((s) => !s.accessKeyId === !s.secretAccessKey, {
    message: "accessKeyId and secretAccessKey go together",
    path: ["accessKeyId"],
  });

export const ConfigSchema = z
  .object({
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "must be host:port, e.g. 127.0.0.1:5000")
      .default("127.0.0.1:5000"),
    dataDir: z.string().min(1).default("./data"),
    databaseUrl: secret(z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL"), "url").optional(),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** `auto`: readable lines on a terminal, JSON lines otherwise (files, pipes, log collectors). */
    logFormat: z.enum(["auto", "json", "pretty"]).default("auto"),
    storage: z
      .object({
        driver: z.enum(["fs", "s3"]).default("fs"),
        /** Defaults to <dataDir>/storage. */
        root: z.string().min(1).optional(),
        fsync: z.boolean().default(true),
        s3: S3Schema.optional(),
      })
      .strict()
      .prefault({})
      .refine((storage) => storage.driver !== "s3" || storage.s3?.bucket, {
        message: "storage.s3.bucket (BERTH_S3_BUCKET) is required when storage.driver is s3",
        path: ["s3", "bucket"],
      }),
    shutdownTimeoutSeconds: z.number().int().min(0).default(30),
    /** How clients reach Berth (behind a reverse proxy): used for the token realm. Default: the request's Host. */
    externalUrl: z.string().regex(/^https?:\/\/[^/]+$/, "must be like https://registry.example.com (no path)").optional(),
    projects: z
      .object({
        /** The storage quota a new project starts with (created by a push or the API); null: unlimited. */
        defaultQuota: byteSize.nullable().default(null),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        enabled: z.boolean().default(true),
        service: z.string().min(1).default("berth"),
        issuer: z.string().min(1).default("berth"),
        tokenTtlSeconds: z.number().int().min(30).default(300),
        refreshTokenTtlSeconds: z.number().int().min(60).default(30 * 24 * 3600),
        clockSkewSeconds: z.number().int().min(0).default(30),
        /** Who may create a project by pushing into it. */
        projectCreation: z.enum(["everyone", "admins"]).default("everyone"),
        /** Visibility of a project created without one being asked for (by a push, or the API without `public`). */
        defaultVisibility: z.enum(["private", "public"]).default("private"),
        /** Password of the admin created on first start; generated and printed once when unset. */
        adminPassword: secret(z.string().min(8, "must be at least 8 characters")).optional(),
        /** PEM private key (EC P-256 or RSA) to sign tokens with; default: generated and kept in the database. */
        signingKeyFile: z.string().min(1).optional(),
        loginFailures: z.number().int().min(1).default(5),
        loginWindowSeconds: z.number().int().min(1).default(300),
      })
      .strict()
      .prefault({}),
    mirror: z
      .object({
        upstreams: z.array(UpstreamSchema).default([]),
        /** Outbound HTTP(S) proxy for upstream traffic, e.g. http://proxy.internal:3128. */
        httpProxy: secret(z.string().regex(/^https?:\/\//, "must be an http:// or https:// URL"), "url").optional(),
        /**
         * Let anonymous clients pull mirrored content even when local projects are private. Unset: true,
         * unless an upstream has credentials (its private images would be anyone's); see parseConfig.
         */
        anonymousPull: z.boolean().optional(),
        /**
         * Storage the mirrored blobs may take (those no local repository holds); unset: no limit. Over it,
         * collections evict the least recently pulled mirrored images (src/gc/eviction.ts).
         */
        cacheMaxBytes: byteSize.optional(),
        /** An eviction frees space down to this fraction of cacheMaxBytes, so the next pull does not evict again. */
        cacheLowWatermark: z.number().gt(0).max(1).default(0.9),
        /** Least time between two collections the server starts because the cache went over its limit. */
        evictionInterval: duration.prefault("5m"),
      })
      .strict()
      .prefault({}),
    /** Garbage collection; retention and immutability rules apply per project. See src/config/gc.ts. */
    gc: GcConfigSchema,
    retention: z.array(RetentionRuleSchema).default([]),
    immutableTags: z.array(ImmutableTagRuleSchema).default([]),
    // Operations: tls, trustedProxies, http, rateLimit, metrics, notifications (src/config/ops.ts).
    ...OPS_CONFIG_SHAPE,
    web: z
      .object({
        /** Serve the admin UI at / (the JSON API under /api stays either way). */
        enabled: z.boolean().default(true),
        sessionTtlSeconds: z.number().int().min(60).default(12 * 3600),
        /** Largest image archive accepted by the UI's import (docker save / OCI layout tarball). */
        importMaxBytes: z.number().int().min(1024).default(8 * 1024 ** 3),
        /** Most bytes one import may unpack to (a gzipped archive counted after decompression). */
        importMaxExpandedBytes: z.number().int().min(1024).default(32 * 1024 ** 3),
        /** Most an import may expand over what was sent so far, once past 16 MiB: a gzip bomb stops here. */
        importMaxExpansionRatio: z.number().min(1).default(100),
        /** Imports that may run at once, in total and per user (per address when auth is off). */
        importConcurrency: z.number().int().min(1).default(4),
        importConcurrencyPerUser: z.number().int().min(1).default(2),
        /** Free space the data directory's disk keeps beyond the room running imports have claimed; below it, 507. */
        importMinFreeBytes: z.number().int().min(0).default(1024 ** 3),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    const defaults = config.mirror.upstreams.filter((u) => u.prefix === "");
    if (defaults.length > 1) ctx.addIssue({ code: "custom", path: ["mirror", "upstreams"], message: "only one upstream may have the empty (default) prefix" });
    const names = new Set<string>();
    for (const [i, u] of config.mirror.upstreams.entries()) {
      if (names.has(u.name)) ctx.addIssue({ code: "custom", path: ["mirror", "upstreams", i, "name"], message: `duplicate upstream name ${u.name}` });
      names.add(u.name);
    }
  });

export type Config = Readonly<z.infer<typeof ConfigSchema>> & {
  readonly storage: Readonly<z.infer<typeof ConfigSchema>["storage"]>;
  /** anonymousPull is always decided (parseConfig). */
  readonly mirror: Readonly<z.infer<typeof ConfigSchema>["mirror"]> & { readonly anonymousPull: boolean };
};
export type UpstreamConfig = z.infer<typeof UpstreamSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Environment variable → config key path. Kept stable: scripts and tooling rely on these names. */
export const ENV_KEYS: Record<string, { path: string[]; type: EnvType }> = {
  BERTH_LISTEN: { path: ["listen"], type: "string" },
  BERTH_DATA_DIR: { path: ["dataDir"], type: "string" },
  DATABASE_URL: { path: ["databaseUrl"], type: "string" },
  BERTH_LOG_LEVEL: { path: ["logLevel"], type: "string" },
  BERTH_LOG_FORMAT: { path: ["logFormat"], type: "string" },
  BERTH_STORAGE: { path: ["storage", "driver"], type: "string" },
  BERTH_STORAGE_ROOT: { path: ["storage", "root"], type: "string" },
  BERTH_STORAGE_FSYNC: { path: ["storage", "fsync"], type: "boolean" },
  BERTH_S3_BUCKET: { path: ["storage", "s3", "bucket"], type: "string" },
  BERTH_S3_ENDPOINT: { path: ["storage", "s3", "endpoint"], type: "string" },
  BERTH_S3_REGION: { path: ["storage", "s3", "region"], type: "string" },
  BERTH_S3_FORCE_PATH_STYLE: { path: ["storage", "s3", "forcePathStyle"], type: "boolean" },
  BERTH_S3_PREFIX: { path: ["storage", "s3", "prefix"], type: "string" },
  BERTH_S3_REDIRECT: { path: ["storage", "s3", "redirect"], type: "boolean" },
  BERTH_S3_STORAGE_CLASS: { path: ["storage", "s3", "storageClass"], type: "string" },
  BERTH_SHUTDOWN_TIMEOUT: { path: ["shutdownTimeoutSeconds"], type: "number" },
  BERTH_EXTERNAL_URL: { path: ["externalUrl"], type: "string" },
  BERTH_AUTH: { path: ["auth", "enabled"], type: "boolean" },
  BERTH_AUTH_SERVICE: { path: ["auth", "service"], type: "string" },
  BERTH_TOKEN_TTL: { path: ["auth", "tokenTtlSeconds"], type: "number" },
  BERTH_PROJECT_CREATION: { path: ["auth", "projectCreation"], type: "string" },
  BERTH_DEFAULT_VISIBILITY: { path: ["auth", "defaultVisibility"], type: "string" },
  BERTH_ADMIN_PASSWORD: { path: ["auth", "adminPassword"], type: "string" },
  BERTH_SIGNING_KEY_FILE: { path: ["auth", "signingKeyFile"], type: "string" },
  BERTH_MIRROR_HTTP_PROXY: { path: ["mirror", "httpProxy"], type: "string" },
  BERTH_MIRROR_CACHE_MAX_BYTES: { path: ["mirror", "cacheMaxBytes"], type: "string" },
  BERTH_GC_SCHEDULE: { path: ["gc", "schedule"], type: "string" },
  BERTH_GC_GRACE: { path: ["gc", "grace"], type: "string" },
  ...OPS_ENV_KEYS,
  BERTH_WEB: { path: ["web", "enabled"], type: "boolean" },
  BERTH_IMPORT_MAX_BYTES: { path: ["web", "importMaxBytes"], type: "number" },
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): Config {
  const raw: Record<string, unknown> = env.BERTH_CONFIG ? readYaml(env.BERTH_CONFIG) : {};
  const fromFile = structuredClone(raw);
  for (const [name, spec] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    setPath(raw, spec.path, convert(name, value, spec.type));
  }
  if (env.BERTH_MIRROR_UPSTREAM) applyMirrorEnv(raw, env);
  applyOpsEnv(raw, env);
  const merged = deepMerge(raw, overrides);
  const config = parseConfig(merged);
  // Command-line flags (overrides) count with the environment: both are set where Berth is started.
  recordProvenance(config, { file: fromFile, environment: merged });
  return config;
}

/** BERTH_MIRROR_UPSTREAM=<url>: the common case in one variable, a docker.io-style default upstream. */
function applyMirrorEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const mirror = (raw.mirror ??= {}) as Record<string, unknown>;
  const upstreams = ((mirror.upstreams as Record<string, unknown>[] | undefined) ?? []).filter((u) => u.prefix !== "");
  upstreams.push({
    name: "default",
    url: env.BERTH_MIRROR_UPSTREAM!.replace(/\/+$/, ""),
    prefix: "",
    registry: "docker.io",
    ...(env.BERTH_MIRROR_USERNAME ? { username: env.BERTH_MIRROR_USERNAME } : {}),
    ...(env.BERTH_MIRROR_PASSWORD ? { password: env.BERTH_MIRROR_PASSWORD } : {}),
    ...(env.BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS ? { allowPrivateNetworks: convert("BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS", env.BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS, "boolean") } : {}),
  });
  mirror.upstreams = upstreams;
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
    mirror: { ...config.mirror, anonymousPull: config.mirror.anonymousPull ?? !config.mirror.upstreams.some(hasCredentials) },
  });
}

/** Set when anonymous clients may pull through an upstream Berth logs in to: said at start-up and by `berth doctor`. */
export function anonymousMirrorPullWarning(config: Config): string | undefined {
  const logged = config.mirror.upstreams.filter(hasCredentials).map((u) => u.name);
  if (!config.auth.enabled || !config.mirror.anonymousPull || !logged.length) return undefined;
  return `mirror.anonymousPull is on while upstream ${logged.join(", ")} has credentials: anyone may pull what that account can read upstream, private images included`;
}

/** An upstream Berth logs in to: what it serves may be private to that account. */
export function hasCredentials(upstream: UpstreamConfig): boolean {
  return upstream.username !== undefined || upstream.password !== undefined;
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

function convert(name: string, value: string, type: EnvType): unknown {
  if (type === "string") return value;
  if (type === "list") return splitList(value);
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
