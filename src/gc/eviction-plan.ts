// Which mirrored images to evict when the mirror cache is over its limit: pure, so it can be tested
// without a database. eviction.ts loads the inputs and carries the decisions out.
import type { CachedBlob, MirroredManifest } from "../metadata/gc-eviction";

export type { CachedBlob, MirroredManifest };

/** What eviction removes as a whole: a manifest no index of its repository lists, with its index children. */
export interface EvictionUnit {
  root: number;
  repositoryId: number;
  /** The root and everything it reaches through index children (ids). */
  members: number[];
  /** The latest use of any member: pulling one platform of an index keeps the whole index. */
  lastUsed: Date;
  blobs: Set<string>;
}

/** Groups manifests into units; `children` are index → child edges within a repository. */
export function evictionUnits(manifests: MirroredManifest[], children: Array<{ parent: number; child: number }>): EvictionUnit[] {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const childrenOf = new Map<number, number[]>();
  const listed = new Set<number>();
  for (const { parent, child } of children) {
    if (!byId.has(parent) || !byId.has(child)) continue;
    childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), child]);
    listed.add(child);
  }
  return manifests
    .filter((m) => !listed.has(m.id))
    .map((root) => {
      const members = new Set<number>();
      const visit = (id: number) => {
        if (members.has(id)) return;
        members.add(id);
        childrenOf.get(id)?.forEach(visit);
      };
      visit(root.id);
      const list = [...members].map((id) => byId.get(id)!);
      return {
        root: root.id,
        repositoryId: root.repositoryId,
        members: [...members],
        lastUsed: new Date(Math.max(...list.map((m) => m.lastUsed.getTime()))),
        blobs: new Set(list.flatMap((m) => m.blobs)),
      };
    });
}

export interface EvictionSelection {
  /** Bytes of the cache now: distinct blobs of mirrored manifests, less those shared with local content. */
  cacheBytes: number;
  /** Least recently used first, each with the bytes its eviction frees (given those before it). */
  chosen: Array<{ unit: EvictionUnit; bytes: number }>;
  /** Manifests the chosen units remove: their members less any that a unit staying also reaches. */
  manifests: Set<number>;
  bytesAfter: number;
}

/**
 * Least recently used units first, until the cache would be at most `targetBytes`: nothing when it is
 * within `limitBytes`. Units used at or after `cutoff` (the grace period) are never chosen, but their
 * blobs stay held. A blob counts as freed only once no unit left holds it, and never when it is shared
 * or fresh.
 */
export function selectEvictions(
  units: EvictionUnit[],
  blobs: ReadonlyMap<string, CachedBlob>,
  limits: { cutoff: Date; limitBytes: number; targetBytes: number },
): EvictionSelection {
  const holders = new Map<string, number>();
  for (const unit of units) for (const digest of unit.blobs) holders.set(digest, (holders.get(digest) ?? 0) + 1);
  const cached = (digest: string) => {
    const blob = blobs.get(digest);
    return blob !== undefined && !blob.shared;
  };
  const cacheBytes = [...holders.keys()].filter(cached).reduce((n, d) => n + blobs.get(d)!.size, 0);
  const selection: EvictionSelection = { cacheBytes, chosen: [], manifests: new Set(), bytesAfter: cacheBytes };
  if (cacheBytes <= limits.limitBytes) return selection;

  const candidates = units
    .filter((u) => u.lastUsed < limits.cutoff)
    .sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime() || a.root - b.root);
  for (const unit of candidates) {
    if (selection.bytesAfter <= limits.targetBytes) break;
    let bytes = 0;
    for (const digest of unit.blobs) {
      const left = holders.get(digest)! - 1;
      holders.set(digest, left);
      if (left === 0 && cached(digest) && !blobs.get(digest)!.fresh) bytes += blobs.get(digest)!.size;
    }
    selection.chosen.push({ unit, bytes });
    selection.bytesAfter -= bytes;
  }
  const chosen = new Set(selection.chosen.map((c) => c.unit));
  const staying = new Set(units.filter((u) => !chosen.has(u)).flatMap((u) => u.members));
  for (const { unit } of selection.chosen) for (const id of unit.members) if (!staying.has(id)) selection.manifests.add(id);
  return selection;
}
