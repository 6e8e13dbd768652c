import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";
import type { BlobRecord, MetadataStore, ManifestRecord } from "../metadata/store";
import { DomainError } from "../kernel/errors";
import type { RepositoryName } from "../kernel/names";
import type { BlobServiceApi } from "../registry/blob-service";
import type { Digest } from "../kernel/digest";
import { MediaType } from "../kernel/media-types";
import { formatPlatform, summarizeManifest } from "./image-info";

/**
 * What to export: `platform` null is the image itself or, for an index, its default platform; "all" is the
 * whole index. `format` "docker" adds docker save's manifest.json to the OCI layout (docker load reads
 * that); "oci" is the bare OCI image layout.
 */
export interface ExportRequest {
  platform: string | null;
  format: "docker" | "oci";
}

export interface ExportPlan {
  /** What index.json names: the index itself for "all", else the one platform image. */
  top: ManifestRecord;
  /** "all", the platform chosen from an index, or null for a single image. */
  platform: string | null;
  /** Every manifest in the archive (top first), each once. */
  manifests: ManifestRecord[];
  /** Every config and layer blob, each once, in the order they are written. */
  blobs: BlobRecord[];
  /** docker save's manifest.json entry (format "docker"): the image docker load tags. */
  docker: { config: Digest; layers: Digest[] } | null;
}

/** The platforms an index offers for export (attestations are not images to run). */
export function exportablePlatforms(index: ManifestRecord): Array<{ digest: Digest; platform: string }> {
  return summarizeManifest(index.mediaType, index.content)
    .children.filter((c) => c.platform && !c.attestation)
    .map((c) => ({ digest: c.digest as Digest, platform: formatPlatform(c.platform) }));
}

type Store = Pick<MetadataStore, "findManifest">;
type Blobs = Pick<BlobServiceApi, "stat">;

/**
 * Picks what to export and checks every blob (linked here, size known) before the first byte is sent: a
 * failure after the headers could only cut the connection. Reads metadata only, never blob contents.
 */
export async function planExport(store: Store, blobs: Blobs, repository: RepositoryName, top: ManifestRecord, request: ExportRequest): Promise<ExportPlan> {
  const summary = summarizeManifest(top.mediaType, top.content);
  if (summary.kind === "index") {
    const platforms = exportablePlatforms(top);
    if (request.platform === "all") return planAll(store, blobs, repository, top, platforms, request);
    const child = request.platform ? platforms.find((p) => p.platform === request.platform) : (platforms.find((p) => p.platform === "linux/amd64") ?? platforms[0]);
    if (!child) {
      throw new DomainError(
        "ManifestUnknown",
        request.platform ? `the index has no ${request.platform} image; it has ${platforms.map((p) => p.platform).join(", ") || "none"}` : "the index lists no platform image",
      );
    }
    const image = await storedChild(store, repository, child.digest, child.platform);
    const content = await contentOf(blobs, repository, image);
    return { top: image, platform: child.platform, manifests: [image], blobs: content.blobs, docker: request.format === "docker" ? content.docker : null };
  }
  if (summary.kind !== "image") throw new DomainError("InvalidRequest", `a ${top.mediaType} is not a container image; only images can be exported`);
  const content = await contentOf(blobs, repository, top);
  return { top, platform: null, manifests: [top], blobs: content.blobs, docker: request.format === "docker" ? content.docker : null };
}

/** The whole index: every child it lists (attestations too, so the index's digest still holds) must be stored. */
async function planAll(store: Store, blobs: Blobs, repository: RepositoryName, index: ManifestRecord, platforms: Array<{ digest: Digest; platform: string }>, request: ExportRequest): Promise<ExportPlan> {
  const manifests: ManifestRecord[] = [index];
  const byDigest = new Map<string, BlobRecord>();
  let docker: ExportPlan["docker"] = null;
  const preferred = platforms.find((p) => p.platform === "linux/amd64") ?? platforms[0];
  for (const child of summarizeManifest(index.mediaType, index.content).children) {
    if (manifests.some((m) => m.digest === child.digest)) continue;
    const image = await storedChild(store, repository, child.digest as Digest, formatPlatform(child.platform) || child.digest);
    const kind = summarizeManifest(image.mediaType, image.content).kind;
    if (kind !== "image") throw new DomainError("InvalidRequest", `the index lists a ${image.mediaType} (${child.digest}); only indexes of images can be exported`);
    const content = await contentOf(blobs, repository, image);
    manifests.push(image);
    for (const blob of content.blobs) byDigest.set(blob.digest, blob);
    if (child.digest === preferred?.digest) docker = content.docker;
  }
  // A manifest's digest named as another's layer is written once, as the manifest.
  for (const m of manifests) byDigest.delete(m.digest);
  return { top: index, platform: "all", manifests, blobs: [...byDigest.values()], docker: request.format === "docker" ? docker : null };
}

async function storedChild(store: Store, repository: RepositoryName, digest: Digest, label: string): Promise<ManifestRecord> {
  const found = await store.findManifest(repository, { digest });
  if (!found) throw new DomainError("ManifestUnknown", `the index's ${label} manifest (${digest}) is not stored here`);
  return found;
}

/** An image's config and distinct layers (foreign layers, which name URLs, are not ours to ship). */
async function contentOf(blobs: Blobs, repository: RepositoryName, image: ManifestRecord): Promise<{ blobs: BlobRecord[]; docker: NonNullable<ExportPlan["docker"]> }> {
  const s = summarizeManifest(image.mediaType, image.content);
  if (s.kind !== "image" || !s.configDigest) throw new DomainError("InvalidRequest", `a ${image.mediaType} is not a container image; only images can be exported`);
  const config = await blobs.stat(repository, s.configDigest as Digest);
  const layers = s.layers.filter((l) => !l.urls?.length).map((l) => l.digest as Digest);
  const records = [config];
  for (const digest of new Set(layers)) if (digest !== config.digest) records.push(await blobs.stat(repository, digest));
  return { blobs: records, docker: { config: config.digest, layers } };
}

const BLOCK = 512;
const blobPath = (d: string) => `blobs/${d.slice(0, d.indexOf(":"))}/${d.slice(d.indexOf(":") + 1)}`;

interface Metadata {
  "oci-layout": string;
  "index.json": string;
  "manifest.json"?: string;
}

function metadataFiles(plan: ExportPlan, repoTag: string | null, tag: string | null): Metadata {
  const annotations: Record<string, string> = {};
  if (repoTag) annotations["io.containerd.image.name"] = repoTag;
  if (tag) annotations["org.opencontainers.image.ref.name"] = tag;
  const files: Metadata = {
    "oci-layout": JSON.stringify({ imageLayoutVersion: "1.0.0" }),
    "index.json": JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [{ mediaType: plan.top.mediaType, digest: plan.top.digest, size: plan.top.content.length, ...(Object.keys(annotations).length ? { annotations } : {}) }],
    }),
  };
  if (plan.docker) {
    files["manifest.json"] = JSON.stringify([{ Config: blobPath(plan.docker.config), RepoTags: repoTag ? [repoTag] : [], Layers: plan.docker.layers.map(blobPath) }]);
  }
  return files;
}

/**
 * The archive's exact length, or null where it is not cheap to know: a sha512 blob's path is too long for
 * a plain ustar header, and the extra pax entry tar-stream then writes is not worth predicting.
 */
export function archiveLength(plan: ExportPlan, repoTag: string | null, tag: string | null): number | null {
  if ([...plan.manifests, ...plan.blobs].some((b) => !b.digest.startsWith("sha256:"))) return null;
  const entry = (size: number) => BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  let total = 2 * BLOCK; // the end-of-archive marker
  for (const text of Object.values(metadataFiles(plan, repoTag, tag))) total += entry(Buffer.byteLength(text));
  for (const m of plan.manifests) total += entry(m.content.length);
  for (const b of plan.blobs) total += entry(b.size);
  return total;
}

/**
 * Streams the plan as an OCI image layout tarball (oci-layout, index.json, blobs/sha256/…), with docker
 * save's manifest.json beside it for format "docker" — the layout Docker 25+ itself writes, which older
 * docker load, skopeo, podman and containerd read too. Blobs go out as stored (layers compressed), one
 * stream at a time: nothing is buffered beyond that.
 */
export async function writeImageArchive(
  out: Writable,
  plan: ExportPlan,
  repository: RepositoryName,
  blobs: Pick<BlobServiceApi, "open">,
  repoTag: string | null,
  tag: string | null,
): Promise<void> {
  const tar = tarPack();
  const piping = pipeline(tar, out);
  const addBuffer = (name: string, data: Buffer | string) =>
    new Promise<void>((resolve, reject) => tar.entry({ name, mtime: new Date(0), mode: 0o644 }, data, (err) => (err ? reject(err) : resolve())));
  try {
    for (const [name, text] of Object.entries(metadataFiles(plan, repoTag, tag))) await addBuffer(name, text);
    for (const manifest of plan.manifests) await addBuffer(blobPath(manifest.digest), manifest.content);
    for (const blob of plan.blobs) {
      const source = await blobs.open(repository, blob);
      const entry = tar.entry({ name: blobPath(blob.digest), size: blob.size, mtime: new Date(0), mode: 0o644 });
      await pipeline(source, entry);
    }
    tar.finalize();
    await piping;
  } catch (err) {
    tar.destroy(err as Error);
    await piping.catch(() => undefined);
    throw err;
  }
}
