import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config";
import type { Clock } from "../kernel/clock";
import type { MirrorStore } from "../metadata/mirror-store";
import type { MetadataStore } from "../metadata/store";
import type { BlobService } from "../registry/blob-service";
import type { ManifestService } from "../registry/manifest-service";
import type { StorageDriver } from "../storage/driver";
import { BlobFetcher } from "./blob-fetcher";
import { MirrorBlobService } from "./mirror-blob-service";
import { MirrorManifestService } from "./mirror-manifest-service";
import { MirrorRouter } from "./mirror-router";
import { MirrorRouting } from "./mirror-routing";
import { MirrorStats } from "./mirror-stats";
import { UpstreamClient } from "./upstream-client";

export interface Mirror {
  blobs: MirrorBlobService;
  manifests: MirrorManifestService;
  routing: MirrorRouting;
  stats: MirrorStats;
  upstreams: UpstreamClient[];
  /** This process's mark in the Via header: a request carrying it came back to us, i.e. a loop. */
  viaToken: string;
  /**
   * Resolves once the blob fetches under way are published (or failed). A client has its blob as soon as
   * the digest verified; storing it may take a moment longer.
   */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Pull-through mirror mode: decorates the blob and manifest services when upstreams are configured. */
export function createMirror(
  config: Config,
  deps: {
    mirrorStore: MirrorStore;
    storage: StorageDriver;
    store: MetadataStore;
    blobs: BlobService;
    manifests: ManifestService;
    logger: Logger;
    isLocalProject: (project: string) => Promise<boolean>;
    /** Told the size of every blob fetched into the cache. */
    onCached?: (bytes: number) => void;
    /** What tag TTLs are measured against (default: the system clock). */
    clock?: Clock;
  },
): Mirror | null {
  if (!config.mirror.upstreams.length) return null;
  const viaToken = `berth-${randomUUID().slice(0, 8)}`;
  const stats = new MirrorStats();
  const upstreams = config.mirror.upstreams.map((u) => new UpstreamClient(u, `1.1 ${viaToken}`, stats, config.mirror.httpProxy));
  const routing = new MirrorRouting(new MirrorRouter(upstreams), deps.isLocalProject);
  const fetcher = new BlobFetcher({
    storage: deps.storage,
    store: deps.store,
    mirror: deps.mirrorStore,
    stats,
    logger: deps.logger,
    spoolDir: join(config.dataDir, "spool"),
    onCached: deps.onCached,
  });
  return {
    blobs: new MirrorBlobService(deps.blobs, routing, fetcher, stats),
    manifests: new MirrorManifestService(deps.manifests, routing, deps.mirrorStore, stats, deps.clock),
    routing,
    stats,
    upstreams,
    viaToken,
    idle: () => fetcher.idle(),
    close: async () => {
      await fetcher.close();
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}
