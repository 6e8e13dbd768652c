import { Agent, fetch, ProxyAgent, type Dispatcher, type Response } from "undici";
import type { UpstreamConfig } from "../config";
import type { Digest } from "../kernel/digest";
import { MANIFEST_TYPES } from "../kernel/media-types";
import { CircuitBreaker } from "./circuit-breaker";
import type { MirrorStats } from "./mirror-stats";

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

export interface UpstreamManifest {
  digest: Digest | null;
  mediaType: string;
  /** Null for HEAD. */
  content: Buffer | null;
}

const MANIFEST_ACCEPT = [...MANIFEST_TYPES].join(", ");

/**
 * One remote registry: follows its WWW-Authenticate challenge (anonymous or with configured credentials)
 * to a token, caches tokens per scope, follows blob redirects, tags every request with our Via so a mirror
 * pointed at itself is caught, and guards the upstream with a circuit breaker.
 */
export class UpstreamClient {
  readonly breaker = new CircuitBreaker(5, 30_000);
  private readonly tokens = new Map<string, { header: string; until: number }>();
  private readonly dispatcher: Dispatcher;
  /** Docker Hub's pull allowance, from its ratelimit-remaining header, when it sends one. */
  rateLimitRemaining: string | null = null;

  constructor(
    readonly config: UpstreamConfig,
    private readonly via: string,
    private readonly stats: MirrorStats,
    httpProxy?: string,
  ) {
    // The timeout bounds waiting for headers and each silence in a body, never a whole (slow, large) download.
    const timeouts = { headersTimeout: config.timeoutSeconds * 1000, bodyTimeout: config.timeoutSeconds * 1000 };
    this.dispatcher = httpProxy
      ? new ProxyAgent({ uri: httpProxy, ...timeouts })
      : new Agent({ keepAliveTimeout: 30_000, connections: 32, ...timeouts });
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
    } catch (err) {
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
    return fetch(`${this.config.url}${path}`, { method: options.method, headers, redirect: "follow", dispatcher: this.dispatcher, signal: options.signal });
  }

  /** Answers the upstream's challenge: Bearer → fetch a token from its realm; Basic → send the credentials. */
  private async authenticate(challenge: string | null, repository: string): Promise<{ header: string; until: number }> {
    const basic = this.config.username ? `Basic ${Buffer.from(`${this.config.username}:${this.config.password ?? ""}`).toString("base64")}` : null;
    if (challenge && /^basic/i.test(challenge) && basic) return this.remember(repository, { header: basic, until: Date.now() + 3600_000 });
    const params = parseChallenge(challenge ?? "");
    if (!params.realm) throw new UpstreamError(`upstream ${this.config.name} asked for credentials we cannot give`, 401);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", `repository:${repository}:pull`);
    const res = await fetch(url, {
      headers: { via: this.via, ...(basic ? { authorization: basic } : {}) },
      dispatcher: this.dispatcher,
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

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseChallenge(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) out[m[1].toLowerCase()] = m[2];
  return out;
}
