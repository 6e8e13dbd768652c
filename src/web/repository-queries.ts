import type { Page, TagSort, WebQueries } from "../metadata/web-queries";
import { summarizeManifest, type Platform } from "./image-info";

export interface TagRow {
  name: string;
  digest: string;
  mediaType: string;
  kind: "image" | "index" | "other";
  /** Compressed size as pulled: manifest + config + layers; for an index, the sum over its platforms. */
  size: number | null;
  platforms: Array<Platform & { digest: string }>;
  artifactType: string | null;
  createdAt: Date;
  pushedAt: Date;
  lastPulledAt: Date | null;
}

/** A page of a repository's tags, each summarized from its manifest. */
export async function listTags(
  queries: WebQueries,
  repositoryId: number,
  q: string | undefined,
  sort: TagSort,
  order: "asc" | "desc",
  page: Page,
): Promise<{ total: number; items: TagRow[] }> {
  const { total, items: rows } = await queries.listTags(repositoryId, q, sort, order, page);
  const summaries = rows.map((r) => summarizeManifest(r.mediaType, r.content));
  // An index's size is its platforms' sizes: read those children (one query for the whole page).
  const childDigests = [...new Set(summaries.flatMap((s) => s.children.map((c) => c.digest)))];
  const childSizes = new Map<string, number>();
  if (childDigests.length) {
    const children = await queries.manifestsOf(repositoryId, childDigests);
    for (const c of children) childSizes.set(c.digest, summarizeManifest(c.mediaType, c.content).size ?? 0);
  }
  const items = rows.map((r, i): TagRow => {
    const s = summaries[i];
    const size =
      s.kind === "index"
        ? r.content.length + s.children.reduce((sum, c) => sum + (childSizes.get(c.digest) ?? c.size), 0)
        : s.size;
    return {
      name: r.name,
      digest: r.digest,
      mediaType: r.mediaType,
      kind: s.kind,
      size,
      platforms: s.children.filter((c) => c.platform && !c.attestation).map((c) => ({ ...c.platform!, digest: c.digest })),
      artifactType: s.artifactType,
      createdAt: r.createdAt,
      pushedAt: r.pushedAt,
      lastPulledAt: r.lastPulledAt,
    };
  });
  return { total, items };
}
