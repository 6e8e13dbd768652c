// Mirror cache eviction: when the mirrored blobs take more than mirror.cacheMaxBytes, the least recently
// pulled mirrored images go (tags, mirror_tag rows, manifests), down to the low watermark. It runs at the
// start of a collection, after retention, so the same collection's sweep removes the links and blobs
// nothing else holds. The database work is in src/metadata/gc-eviction.ts.
import type { EvictionDecision, EvictionPlan, EvictionResult, MirrorCache } from "../metadata/gc-eviction";
import type { GcStore } from "../metadata/gc-store";
import { evictionUnits, selectEvictions } from "./eviction-plan";
import type { BatchHooks } from "./retention";

export type { EvictionDecision, EvictionPlan, EvictionResult, MirrorCache };

export function mirrorCacheOf(mirror: {
  upstreams: ReadonlyArray<{ prefix: string }>;
  cacheMaxBytes?: number;
  cacheLowWatermark: number;
}): MirrorCache | null {
  if (mirror.cacheMaxBytes === undefined || !mirror.upstreams.length) return null;
  return {
    prefixes: mirror.upstreams.map((u) => u.prefix).filter((p) => p !== ""),
    hasDefault: mirror.upstreams.some((u) => u.prefix === ""),
    limitBytes: mirror.cacheMaxBytes,
    targetBytes: Math.floor(mirror.cacheMaxBytes * mirror.cacheLowWatermark),
  };
}

/** What to evict as of `cutoff` (now less the grace period), from one consistent snapshot. */
export function planEviction(store: GcStore, cache: MirrorCache, cutoff: Date): Promise<EvictionPlan> {
  return store.planEviction(cache, cutoff, (snapshot) =>
    selectEvictions(evictionUnits(snapshot.manifests, snapshot.children), snapshot.blobs, {
      cutoff,
      limitBytes: cache.limitBytes,
      targetBytes: cache.targetBytes,
    }),
  );
}

/**
 * Carries the decisions out, a repository's batch per transaction under its row lock. A pull racing the
 * eviction (its audit event not yet written) at worst finds the image gone and fetches it from the
 * upstream again: mirrored content is always re-fetchable.
 */
export async function applyEviction(
  store: GcStore,
  decisions: EvictionDecision[],
  cutoff: Date,
  batchSize: number,
  hooks: BatchHooks<EvictionResult> = {},
): Promise<EvictionResult[]> {
  const byRepository = new Map<number, EvictionDecision[]>();
  for (const d of decisions) byRepository.set(d.repositoryId, [...(byRepository.get(d.repositoryId) ?? []), d]);
  const all: EvictionResult[] = [];
  for (const repositoryId of [...byRepository.keys()].sort((a, b) => a - b)) {
    const list = byRepository.get(repositoryId)!;
    for (let i = 0; i < list.length; i += batchSize) {
      const done = await store.evictBatch(repositoryId, list.slice(i, i + batchSize), cutoff, hooks.runId);
      all.push(...done);
      await hooks.afterBatch?.(done);
    }
  }
  return all;
}
