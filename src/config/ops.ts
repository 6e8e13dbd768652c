import { isIP } from "node:net";
import { z } from "zod";
import { compilesWith, glob } from "../kernel/patterns";
import { secret } from "./secrets";

/**
 * The operations part of the configuration (TLS, reverse proxies, HTTP limits and timeouts, rate limits,
 * metrics, notifications). index.ts spreads OPS_CONFIG_SHAPE into its schema and OPS_ENV_KEYS into its
 * environment mapping; every key is documented in docs/configuration.md (a unit test checks).
 */

const LISTEN = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/;

/** An address or CIDR block, or one of the names `loopback`, `private` (RFC 1918 + ULA), `any`. */
export const PROXY_ALIASES = ["loopback", "private", "any"] as const;

function isProxySpec(value: string): boolean {
  if ((PROXY_ALIASES as readonly string[]).includes(value)) return true;
  const [address, bits, ...rest] = value.split("/");
  const family = isIP(address);
  if (!family || rest.length) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

const TlsSchema = z
  .object({
    /** PEM certificate chain (leaf first). */
    certFile: z.string().min(1),
    /** PEM private key of the certificate. */
    keyFile: z.string().min(1),
    /** Also listen here with plain HTTP and answer every request with a redirect to HTTPS. */
    redirectListen: z.string().regex(LISTEN, "must be host:port, e.g. 0.0.0.0:80").optional(),
    minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
  })
  .strict();

const HttpSchema = z
  .object({
    /** Largest request head (request line + headers) accepted; larger ones get 431. */
    maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
    /** Largest body of any request except blob uploads (manifests are capped at 4 MiB regardless). */
    maxBodyBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
    /** Largest blob upload request body, and the largest Content-Range end; 0 means no limit. */
    maxBlobBytes: z.number().int().min(0).default(0),
    /**
     * Time a client has to send the request head, counted from the connection's opening for its first
     * request: a socket that sends nothing is closed after it (nginx's client_header_timeout).
     */
    headersTimeoutSeconds: z.number().int().min(1).default(10),
    /** Time a client has to send a whole request on every route but blob uploads. */
    requestTimeoutSeconds: z.number().int().min(1).default(120),
    /** A connection that transfers nothing for this long is cut (a stalled upload body, a stuck reader). */
    idleTimeoutSeconds: z.number().int().min(1).default(120),
    /** How long an idle keep-alive connection is kept open. */
    keepAliveTimeoutSeconds: z.number().int().min(1).default(65),
    /** Open connections at most, in total; beyond it new ones get 503 (HTTPS: are closed). 0: no cap. */
    maxConnections: z.number().int().min(0).default(4096),
    /** Open connections at most from one peer address (trusted proxies are exempt). 0: no cap. */
    maxConnectionsPerAddress: z.number().int().min(0).default(256),
  })
  .strict();

const RateLimitSchema = z
  .object({
    /** Per-address token bucket for anonymous requests (no credentials, or an anonymous token). */
    enabled: z.boolean().default(false),
    requestsPerSecond: z.number().positive().default(20),
    burst: z.number().int().min(1).default(200),
  })
  .strict();

const MetricsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** When set, /metrics requires `Authorization: Bearer <token>`. */
    token: secret(z.string().min(16, "must be at least 16 characters")).optional(),
  })
  .strict();

export const NOTIFICATION_ACTIONS = ["push", "pull", "delete"] as const;

const EndpointSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be letters, digits, dots, dashes and underscores"),
    url: secret(z.string().regex(/^https?:\/\/[^/\s]+/, "must be an http:// or https:// URL"), "origin"),
    /** Key for the X-Berth-Signature-256 header (HMAC-SHA256 of the body); unset sends no signature. */
    secret: secret(z.string().min(16, "must be at least 16 characters")).optional(),
    /** Extra request headers, e.g. Authorization for the receiver. */
    headers: z.record(z.string(), secret(z.string())).default({}),
    actions: z.array(z.enum(NOTIFICATION_ACTIONS)).min(1).default([...NOTIFICATION_ACTIONS]),
    /** Glob patterns over repository names ("team-a/*", "**"); empty means every repository. */
    repositories: z.array(z.string().min(1).superRefine(compilesWith(glob))).default([]),
    timeoutSeconds: z.number().positive().default(5),
    /** Attempts per delivery, the first included. */
    maxAttempts: z.number().int().min(1).default(5),
    /** Wait before the first retry; doubles after each failure up to maxBackoffSeconds. */
    backoffSeconds: z.number().positive().default(1),
    maxBackoffSeconds: z.number().positive().default(300),
  })
  .strict();

const NotificationsSchema = z
  .object({
    endpoints: z.array(EndpointSchema).default([]),
    /** Events waiting per endpoint; when full, new events for it are dropped (and counted). */
    queueSize: z.number().int().min(1).default(1000),
    /**
     * Let webhooks that project admins configure in the UI reach loopback and private addresses (link-local
     * and metadata addresses stay refused). The endpoints above are the operator's own and never checked.
     */
    allowPrivateNetworks: z.boolean().default(false),
  })
  .strict()
  .superRefine((n, ctx) => {
    const names = new Set<string>();
    for (const [i, e] of n.endpoints.entries()) {
      if (names.has(e.name)) ctx.addIssue({ code: "custom", path: ["endpoints", i, "name"], message: `duplicate endpoint name ${e.name}` });
      names.add(e.name);
    }
  });

export const OPS_CONFIG_SHAPE = {
  /** Serve HTTPS. Unset: plain HTTP (put a TLS-terminating proxy in front, or stay on loopback). */
  tls: TlsSchema.optional(),
  /** Peers whose X-Forwarded-For/-Proto/-Host headers are believed. */
  trustedProxies: z.array(z.string().refine(isProxySpec, "must be an IP address, a CIDR block, loopback, private or any")).default([]),
  http: HttpSchema.prefault({}),
  rateLimit: RateLimitSchema.prefault({}),
  metrics: MetricsSchema.prefault({}),
  notifications: NotificationsSchema.prefault({}),
};

export type TlsConfig = z.infer<typeof TlsSchema>;
export type HttpConfig = z.infer<typeof HttpSchema>;
export type RateLimitConfig = z.infer<typeof RateLimitSchema>;
export type NotificationEndpointConfig = z.infer<typeof EndpointSchema>;
export type NotificationAction = (typeof NOTIFICATION_ACTIONS)[number];

export type EnvType = "string" | "boolean" | "number" | "list";

/** Environment variable → config key path, for the keys above. */
export const OPS_ENV_KEYS: Record<string, { path: string[]; type: EnvType }> = {
  BERTH_TLS_CERT: { path: ["tls", "certFile"], type: "string" },
  BERTH_TLS_KEY: { path: ["tls", "keyFile"], type: "string" },
  BERTH_TLS_REDIRECT_LISTEN: { path: ["tls", "redirectListen"], type: "string" },
  BERTH_TRUSTED_PROXIES: { path: ["trustedProxies"], type: "list" },
  BERTH_MAX_HEADER_BYTES: { path: ["http", "maxHeaderBytes"], type: "number" },
  BERTH_MAX_BODY_BYTES: { path: ["http", "maxBodyBytes"], type: "number" },
  BERTH_MAX_BLOB_BYTES: { path: ["http", "maxBlobBytes"], type: "number" },
  BERTH_HEADERS_TIMEOUT: { path: ["http", "headersTimeoutSeconds"], type: "number" },
  BERTH_REQUEST_TIMEOUT: { path: ["http", "requestTimeoutSeconds"], type: "number" },
  BERTH_IDLE_TIMEOUT: { path: ["http", "idleTimeoutSeconds"], type: "number" },
  BERTH_MAX_CONNECTIONS: { path: ["http", "maxConnections"], type: "number" },
  BERTH_MAX_CONNECTIONS_PER_ADDRESS: { path: ["http", "maxConnectionsPerAddress"], type: "number" },
  BERTH_RATE_LIMIT: { path: ["rateLimit", "enabled"], type: "boolean" },
  BERTH_RATE_LIMIT_RPS: { path: ["rateLimit", "requestsPerSecond"], type: "number" },
  BERTH_RATE_LIMIT_BURST: { path: ["rateLimit", "burst"], type: "number" },
  BERTH_METRICS: { path: ["metrics", "enabled"], type: "boolean" },
  BERTH_METRICS_TOKEN: { path: ["metrics", "token"], type: "string" },
};

/**
 * BERTH_WEBHOOK_URL (+ BERTH_WEBHOOK_SECRET, BERTH_WEBHOOK_ACTIONS=push,delete): one endpoint named
 * "default" from the environment, replacing a YAML endpoint of that name.
 */
export function applyOpsEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (!env.BERTH_WEBHOOK_URL) return;
  const notifications = (raw.notifications ??= {}) as Record<string, unknown>;
  const endpoints = ((notifications.endpoints as Record<string, unknown>[] | undefined) ?? []).filter((e) => e.name !== "default");
  endpoints.push({
    name: "default",
    url: env.BERTH_WEBHOOK_URL,
    ...(env.BERTH_WEBHOOK_SECRET ? { secret: env.BERTH_WEBHOOK_SECRET } : {}),
    ...(env.BERTH_WEBHOOK_ACTIONS ? { actions: splitList(env.BERTH_WEBHOOK_ACTIONS) } : {}),
  });
  notifications.endpoints = endpoints;
}

/** Environment variable names read by applyOpsEnv (documented with the others). */
export const OPS_ENV_EXTRA = ["BERTH_WEBHOOK_URL", "BERTH_WEBHOOK_SECRET", "BERTH_WEBHOOK_ACTIONS"] as const;

export function splitList(value: string): string[] {
  return value
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}
