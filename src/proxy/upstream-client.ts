import type { Logger } from "pino";
import { Agent, fetch, ProxyAgent, type Dispatcher, type Response } from "undici";
import type { UpstreamConfig } from "../config";
import type { Digest } from "../kernel/digest";
import { MANIFEST_TYPES } from "../kernel/media-types";
import { CircuitBreaker } from "./circuit-breaker";
import { CredentialHosts } from "./credential-hosts";
import type { MirrorStats } from "./mirror-stats";
import { NetworkGuard, RefusedDestination } from "./network-guard";

export class UpstreamError extends Error {
  constructor(
    message: string,
    /** The upstream's HTTP status, or 0 when it could not be reached. */
    readonly status: number,
  ) {
    super(message);
    this.name = "UpstreamError";
  }

  /** 404 (and friends) means the content does not exist upstream; anything else means the upstream failed. */
  get notFound(): boolean {
    return this.status === 404;
  }
}

/** Berth would not go where the upstream sent it: a disallowed address, or credentials to a foreign host. */
export class UpstreamRefused extends UpstreamError {
  constructor(
    message: string,
    /** The host refused, for the log line. */
    readonly host: string,
  ) {
    super(message, 502);
    this.name = "UpstreamRefused";
  }
}

export interface UpstreamManifest {
  digest: Digest | null;
  mediaType: string;
  /** Null for HEAD. */
  content: Buffer | null;
}

const MANIFEST_ACCEPT = [...MANIFEST_TYPES].join(", ");
/** Redirects followed per request: a blob goes to a CDN or object store once; more is a loop or a game. */
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * One remote registry: follows its WWW-Authenticate challenge (anonymous or with configured credentials)
 * to a token, caches tokens per scope, follows blob redirects, tags every request with our Via so a mirror
 * pointed at itself is caught, and guards the upstream with a circuit breaker. Its credentials go only to
 * its credential hosts, an Authorization header never follows a redirect to another origin, and every
 * connection made for it passes its network guard.
 */
export class UpstreamClient {
  readonly breaker = new CircuitBreaker(5, 30_000);
  private readonly tokens = new Map<string, { header: string; until: number }>();
  private readonly dispatcher: Dispatcher;
  private readonly guard: NetworkGuard;
  private readonly credentialHosts: CredentialHosts;
  /** Docker Hub's pull allowance, from its ratelimit-remaining header, when it sends one. */
  rateLimitRemaining: string | null = null;

  constructor(
    readonly config: UpstreamConfig,
    private readonly via: string,
    private readonly stats: MirrorStats,
    private readonly logger: Logger,
    httpProxy?: string,
  ) {
    this.guard = new NetworkGuard(config);
    this.credentialHosts = new CredentialHosts(config.url, config.credentialHosts);
    // The timeout bounds waiting for headers and each silence in a body, never a whole (slow, large) download.
    const timeouts = { headersTimeout: config.timeoutSeconds * 1000, bodyTimeout: config.timeoutSeconds * 1000 };
    // Through an outbound proxy the proxy resolves names: only literal addresses can be checked here
    // (checkUrl, per hop); the proxy's own egress rules must do the rest.
    this.dispatcher = httpProxy
      ? new ProxyAgent({ uri: httpProxy, ...timeouts })
      : new Agent({ keepAliveTimeout: 30_000, connections: 32, ...timeouts, connect: this.guard.connector({}) });
  }

  async getManifest(repository: string, reference: string, method: "GET" | "HEAD"): Promise<UpstreamManifest> {
    const res = await this.request(repository, `/v2/${repository}/manifests/${reference}`, { method, accept: MANIFEST_ACCEPT });
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    const digest = (res.headers.get("docker-content-digest") as Digest | null) ?? null;
    const content = method === "GET" ? Buffer.from(await res.arrayBuffer()) : (await res.body?.cancel(), null);
    return { digest, mediaType, content };
  }

  /** The blob's response, body unread; redirects to a CDN or object store are followed here, server-side. */
  async openBlob(repository: string, digest: Digest, signal?: AbortSignal): Promise<Response> {
    return this.request(repository, `/v2/${repository}/blobs/${digest}`, { method: "GET", signal });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async request(
    repository: string,
    path: string,
    options: { method: string; accept?: string; signal?: AbortSignal },
  ): Promise<Response> {
    if (!this.breaker.allow()) throw new UpstreamError(`upstream ${this.config.name} is failing; not asking it for a while`, 0);
    const started = Date.now();
    try {
      let res = await this.send(path, options, this.tokens.get(repository));
      if (res.status === 401) {
        await res.body?.cancel();
        const auth = await this.authenticate(res.headers.get("www-authenticate"), repository);
        res = await this.send(path, options, auth);
      }
      this.rateLimitRemaining = res.headers.get("ratelimit-remaining") ?? this.rateLimitRemaining;
      if (res.status >= 500 || res.status === 429) throw new UpstreamError(`upstream ${this.config.name} answered ${res.status}`, res.status);
      this.breaker.succeed();
      if (!res.ok) {
        await res.body?.cancel();
        throw new UpstreamError(`upstream ${this.config.name} answered ${res.status} for ${path}`, res.status);
      }
      return res;
    } catch (caught) {
      const err = refusalOf(caught) ?? caught;
      if (err instanceof UpstreamRefused) {
        this.logger.warn({ upstream: this.config.name, host: err.host, reason: err.message }, "refused an upstream's destination");
        this.stats.upstreamError(this.config.name, err.message);
        // Berth's own decision, the same on every try, not the upstream's health either way: the breaker
        // neither counts it nor closes on it (a half-open trial just ends).
        this.breaker.release();
        throw err;
      }
      const status = err instanceof UpstreamError ? err.status : 0;
      if (status === 0 || status >= 500 || status === 429) {
        this.breaker.fail();
        this.stats.upstreamError(this.config.name, err instanceof Error ? err.message : String(err));
      }
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError(`upstream ${this.config.name} unreachable: ${(err as Error).message}`, 0);
    } finally {
      this.stats.upstreamLatency(this.config.name, Date.now() - started);
    }
  }

  private send(path: string, options: { method: string; accept?: string; signal?: AbortSignal }, auth?: { header: string; until: number }) {
    const headers: Record<string, string> = { via: this.via, "user-agent": "berth-mirror" };
    if (options.accept) headers.accept = options.accept;
    if (auth && auth.until > Date.now()) headers.authorization = auth.header;
    return this.follow(new URL(`${this.config.url}${path}`), { method: options.method, headers, signal: options.signal });
  }

  /**
   * A request with its redirects followed here rather than by fetch, so that each hop is checked before it
   * is asked and the Authorization header (the upstream's token, or our credentials) is dropped as soon as
   * a hop leaves the origin it was meant for — a CDN or object store gets a signed URL, not our secrets.
   */
  private async follow(url: URL, init: { method: string; headers: Record<string, string>; signal?: AbortSignal }): Promise<Response> {
    const headers = { ...init.headers };
    for (let hop = 0; ; hop++) {
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new UpstreamRefused(`upstream ${this.config.name} sent Berth to a ${url.protocol} URL; only http and https are followed`, url.host);
      }
      const refused = this.guard.checkUrl(url);
      if (refused) throw new UpstreamRefused(refused.message, url.host);
      const res = await fetch(url, { method: init.method, headers, redirect: "manual", dispatcher: this.dispatcher, signal: init.signal });
      const location = REDIRECTS.has(res.status) ? res.headers.get("location") : null;
      if (location === null) return res;
      await res.body?.cancel();
      if (hop === MAX_REDIRECTS) throw new UpstreamError(`upstream ${this.config.name} redirected more than ${MAX_REDIRECTS} times`, 502);
      if (!URL.canParse(location, url.href)) throw new UpstreamError(`upstream ${this.config.name} redirected to an invalid URL`, 502);
      const next = new URL(location, url);
      if (next.origin !== url.origin) delete headers.authorization;
      url = next;
    }
  }

  /** Answers the upstream's challenge: Bearer → fetch a token from its realm; Basic → send the credentials. */
  private async authenticate(challenge: string | null, repository: string): Promise<{ header: string; until: number }> {
    const basic = this.config.username ? `Basic ${Buffer.from(`${this.config.username}:${this.config.password ?? ""}`).toString("base64")}` : null;
    if (challenge && /^basic/i.test(challenge) && basic) return this.remember(repository, { header: basic, until: Date.now() + 3600_000 });
    const params = parseChallenge(challenge ?? "");
    if (!params.realm) throw new UpstreamError(`upstream ${this.config.name} asked for credentials we cannot give`, 401);
    if (!URL.canParse(params.realm)) throw new UpstreamError(`upstream ${this.config.name} named a token realm that is not a URL`, 502);
    const url = new URL(params.realm);
    if (basic && !this.credentialHosts.allows(url)) {
      throw new UpstreamRefused(
        `upstream ${this.config.name} named the token realm ${url.origin}, which is not one of its credential hosts: ` +
          "its credentials are not sent there (list the host in the upstream's credentialHosts if it is its token service)",
        url.host,
      );
    }
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", `repository:${repository}:pull`);
    const res = await this.follow(url, {
      method: "GET",
      headers: { via: this.via, "user-agent": "berth-mirror", ...(basic ? { authorization: basic } : {}) },
      signal: AbortSignal.timeout(this.config.timeoutSeconds * 1000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new UpstreamError(`upstream ${this.config.name} token endpoint answered ${res.status}`, res.status === 401 || res.status === 403 ? 401 : res.status);
    }
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new UpstreamError(`upstream ${this.config.name} token endpoint gave no token`, 502);
    // Renew a little early so a token never expires between our check and the upstream's.
    return this.remember(repository, { header: `Bearer ${token}`, until: Date.now() + Math.max(30, (body.expires_in ?? 60) - 10) * 1000 });
  }

  private remember(repository: string, auth: { header: string; until: number }) {
    if (this.tokens.size > 1000) this.tokens.clear();
    this.tokens.set(repository, auth);
    return auth;
  }
}

/** A guard's refusal, as fetch wraps it (a TypeError whose cause it is), made an upstream failure. */
function refusalOf(err: unknown): UpstreamRefused | null {
  const cause = err instanceof Error ? err.cause : undefined;
  return cause instanceof RefusedDestination ? new UpstreamRefused(cause.message, cause.host) : null;
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseChallenge(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) out[m[1].toLowerCase()] = m[2];
  return out;
}
