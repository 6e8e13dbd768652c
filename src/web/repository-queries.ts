import type { Page, TagSort, WebQueries } from "../metadata/web-queries";
import type { RepositoryName } from "../kernel/names";
import { summarizeManifest, type Platform } from "./image-info";
import { IMAGE_CONFIG_TYPES, type ConfigPlatforms } from "./config-platforms";

/** What a list row says about the manifest it shows. */
export interface ManifestView {
  digest: string;
  mediaType: string;
  kind: "image" | "index" | "other";
  /** Compressed size as pulled: manifest + config + layers; for an index, the sum over its platforms. */
  size: number | null;
  /** An index's children's platforms; a single image's own (from its config). */
  platforms: Array<Platform & { digest: string }>;
  /** The manifest's artifactType, or else a config media type that is not an image's (a Helm chart, a signature). */
  artifactType: string | null;
  createdAt: Date;
  lastPulledAt: Date | null;
}

export interface TagRow extends ManifestView {
  name: string;
  pushedAt: Date;
}

export interface ArtifactView extends ManifestView {
  tags: string[];
  referrers: number;
}

interface Lister {
  queries: WebQueries;
  platforms: ConfigPlatforms;
  repository: RepositoryName;
  repositoryId: number;
}

/** A page of a repository's tags, each summarized from its manifest. */
export async function listTags(on: Lister, q: string | undefined, sort: TagSort, order: "asc" | "desc", page: Page): Promise<{ total: number; items: TagRow[] }> {
  const { total, items: rows } = await on.queries.listTags(on.repositoryId, q, sort, order, page);
  const views = await manifestViews(on, rows);
  return { total, items: rows.map((r, i) => ({ ...views[i], name: r.name, pushedAt: r.pushedAt })) };
}

/** A page of a repository's artifacts (one per manifest), each summarized from its manifest. */
export async function listArtifacts(on: Lister, untagged: boolean, page: Page): Promise<{ total: number; untaggedTotal: number; items: ArtifactView[] }> {
  const { total, untaggedTotal, items: rows } = await on.queries.listArtifacts(on.repositoryId, untagged, page);
  const views = await manifestViews(on, rows);
  return { total, untaggedTotal, items: rows.map((r, i) => ({ ...views[i], tags: r.tags, referrers: r.referrers })) };
}

/** Summaries of a page of manifests: an index's children are read in one query, configs once each. */
async function manifestViews(
  on: Lister,
  rows: Array<{ digest: string; mediaType: string; content: Buffer; createdAt: Date; lastPulledAt: Date | null }>,
): Promise<ManifestView[]> {
  const summaries = rows.map((r) => summarizeManifest(r.mediaType, r.content));
  const childDigests = [...new Set(summaries.flatMap((s) => s.children.map((c) => c.digest)))];
  const childSizes = new Map<string, number>();
  if (childDigests.length) {
    const children = await on.queries.manifestsOf(on.repositoryId, childDigests);
    for (const c of children) childSizes.set(c.digest, summarizeManifest(c.mediaType, c.content).size ?? 0);
  }
  const isImage = (s: (typeof summaries)[number]) => s.kind === "image" && !!s.configDigest && IMAGE_CONFIG_TYPES.has(s.configMediaType ?? "");
  const ownPlatforms = await Promise.all(summaries.map((s) => (isImage(s) ? on.platforms.of(on.repository, s.configDigest!) : null)));
  return rows.map((r, i): ManifestView => {
    const s = summaries[i];
    const own = ownPlatforms[i];
    return {
      digest: r.digest,
      mediaType: r.mediaType,
      kind: s.kind,
      size: s.kind === "index" ? r.content.length + s.children.reduce((sum, c) => sum + (childSizes.get(c.digest) ?? c.size), 0) : s.size,
      platforms: own
        ? [{ ...own, digest: r.digest }]
        : s.children.filter((c) => c.platform && !c.attestation).map((c) => ({ ...c.platform!, digest: c.digest })),
      artifactType: s.artifactType ?? (s.kind === "image" && s.configMediaType && !IMAGE_CONFIG_TYPES.has(s.configMediaType) ? s.configMediaType : null),
      createdAt: r.createdAt,
      lastPulledAt: r.lastPulledAt,
    };
  });
}
