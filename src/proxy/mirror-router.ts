import { glob, type WholeMatch } from "../kernel/patterns";
import type { UpstreamClient } from "./upstream-client";

export interface MirrorRoute {
  upstream: UpstreamClient;
  /** The repository's name at the upstream (our name less the upstream's prefix). */
  remoteName: string;
}

/**
 * Which upstream, if any, serves a repository name. Names under an upstream's prefix always belong to it;
 * other names fall to the default (empty-prefix) upstream unless `isLocal` says a local project owns them.
 */
export class MirrorRouter {
  private readonly prefixed: UpstreamClient[];
  private readonly fallback: UpstreamClient | null;

  constructor(readonly upstreams: UpstreamClient[]) {
    // Longest prefix first, so "ghcr.io/team" wins over "ghcr.io".
    this.prefixed = upstreams.filter((u) => u.config.prefix !== "").sort((a, b) => b.config.prefix.length - a.config.prefix.length);
    this.fallback = upstreams.find((u) => u.config.prefix === "") ?? null;
  }

  /**
   * The prefixed upstream owning this name (such names are never local), or null when no prefix claims it.
   * `route` is null when the owner's allow/deny lists refuse the name: it is then served by nobody.
   */
  prefixedRoute(name: string): { route: MirrorRoute | null } | null {
    for (const upstream of this.prefixed) {
      const prefix = `${upstream.config.prefix}/`;
      if (name.startsWith(prefix)) return { route: this.allowed(upstream, name.slice(prefix.length)) };
    }
    return null;
  }

  /** The default upstream's route for a name no prefix claims (the caller checks it is not local). */
  defaultRoute(name: string): MirrorRoute | null {
    return this.fallback ? this.allowed(this.fallback, name) : null;
  }

  /**
   * containerd's mirror requests carry ?ns=<registry host>: map them onto our names, e.g. ns=ghcr.io with an
   * upstream prefixed "ghcr" turns owner/img into ghcr/owner/img. Unknown namespaces leave the name alone.
   */
  namespaced(ns: string, name: string): string {
    const upstream = this.upstreams.find((u) => (u.config.registry ?? new URL(u.config.url).host) === ns);
    return upstream && upstream.config.prefix ? `${upstream.config.prefix}/${name}` : name;
  }

  private allowed(upstream: UpstreamClient, remoteName: string): MirrorRoute | null {
    const { allow, deny } = upstream.config;
    if (deny.some((p) => cachedGlob(p).test(remoteName))) return null;
    if (allow.length && !allow.some((p) => cachedGlob(p).test(remoteName))) return null;
    return { upstream, remoteName };
  }
}

const globs = new Map<string, WholeMatch>();
function cachedGlob(pattern: string): WholeMatch {
  let compiled = globs.get(pattern);
  if (!compiled) {
    compiled = glob(pattern);
    globs.set(pattern, compiled);
  }
  return compiled;
}
