import { systemClock, type Clock } from "../kernel/clock";
import { DomainError } from "../kernel/errors";
import type { RepositoryName } from "../kernel/names";
import type { ManifestRecord, ManifestReference } from "../metadata/store";
import type { ManifestService, ManifestServiceApi } from "../registry/manifest-service";
import type { MirrorRoute } from "./mirror-router";
import type { MirrorRouting } from "./mirror-routing";
import type { MirrorStats } from "./mirror-stats";
import type { MirrorStore } from "../metadata/mirror-store";
import { UpstreamError } from "./upstream-client";

/**
 * Manifests through the pull-through cache, as a decorator of ManifestService.
 * By digest: immutable, so a cached copy is served forever and a miss is fetched once and verified.
 * By tag: a cached tag is served while younger than the upstream's TTL; after that it is revalidated with a
 * HEAD (free under Docker Hub's rate limit) and re-fetched only if the digest moved. When the upstream
 * fails, the cached tag is still served up to the configured staleness. Bytes are stored as received.
 */
export class MirrorManifestService implements ManifestServiceApi {
  constructor(
    private readonly inner: ManifestService,
    private readonly routing: MirrorRouting,
    private readonly mirror: MirrorStore,
    private readonly stats: MirrorStats,
    private readonly clock: Clock = systemClock,
  ) {}

  async get(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord> {
    const route = await this.routing.route(repository);
    if (!route) return this.inner.get(repository, reference);
    const cached = await this.inner.get(repository, reference).catch((err) => {
      if (err instanceof DomainError && err.code === "ManifestUnknown") return null;
      throw err;
    });
    if ("digest" in reference) {
      if (cached) return this.hit(repository, cached);
      return this.fetch(repository, route, reference);
    }
    const checkedAt = await this.mirror.tagCheckedAt(repository, reference.tag);
    // A tag pushed here (no mirror record) is local content: the upstream has no say over it.
    if (cached && checkedAt === null) return cached;
    if (cached && checkedAt && this.clock.now() - checkedAt.getTime() < route.upstream.config.tagTtlSeconds * 1000) {
      return this.hit(repository, cached);
    }
    if (!cached) return this.fetch(repository, route, reference);
    try {
      const head = await route.upstream.getManifest(route.remoteName, reference.tag, "HEAD");
      if (head.digest === cached.digest) {
        await this.mirror.markTagChecked(repository, reference.tag, route.upstream.config.name);
        return this.hit(repository, cached);
      }
      return await this.fetch(repository, route, reference);
    } catch (err) {
      const age = this.clock.now() - checkedAt!.getTime();
      if (err instanceof UpstreamError && !err.notFound && age <= route.upstream.config.maxStalenessSeconds * 1000) {
        this.stats.staleServes++;
        return this.hit(repository, cached);
      }
      throw err instanceof UpstreamError ? upstreamError(err, reference) : err;
    }
  }

  async put(...args: Parameters<ManifestService["put"]>) {
    if (await this.routing.isMirrored(args[0])) {
      throw new DomainError("Denied", `${args[0]} is mirrored from an upstream registry and cannot be pushed to`);
    }
    return this.inner.put(...args);
  }

  async delete(...args: Parameters<ManifestService["delete"]>) {
    return this.inner.delete(...args);
  }

  tags(...args: Parameters<ManifestService["tags"]>) {
    return this.inner.tags(...args);
  }

  catalog(...args: Parameters<ManifestService["catalog"]>) {
    return this.inner.catalog(...args);
  }

  referrers(...args: Parameters<ManifestService["referrers"]>) {
    return this.inner.referrers(...args);
  }

  private hit(repository: RepositoryName, manifest: ManifestRecord): ManifestRecord {
    this.stats.hit(repository);
    this.stats.bytesSaved += manifest.content.length;
    return manifest;
  }

  private async fetch(repository: RepositoryName, route: MirrorRoute, reference: ManifestReference): Promise<ManifestRecord> {
    this.stats.miss(repository);
    const ref = "digest" in reference ? reference.digest : reference.tag;
    let upstream;
    try {
      upstream = await route.upstream.getManifest(route.remoteName, ref, "GET");
    } catch (err) {
      throw err instanceof UpstreamError ? upstreamError(err, reference) : err;
    }
    const content = upstream.content!;
    this.stats.bytesFromUpstream += content.length;
    // cache() verifies a by-digest fetch against the digest asked for, so a lying upstream is caught.
    const stored = await this.inner.cache(repository, reference, content, upstream.mediaType);
    if ("tag" in reference) await this.mirror.markTagChecked(repository, reference.tag, route.upstream.config.name);
    return { digest: stored.digest, mediaType: stored.mediaType, content, subject: stored.subject };
  }
}

export function upstreamError(err: UpstreamError, what: Record<string, unknown> | ManifestReference): DomainError {
  if (err.notFound) return new DomainError("ManifestUnknown", { ...what, upstream: "not found upstream" });
  return new DomainError("Unavailable", `nothing cached and the upstream failed: ${err.message}`, { cause: err });
}
