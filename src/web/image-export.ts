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

export interface ExportPlan {
  /** The platform image that goes into the archive (an index resolved to one platform). */
  image: ManifestRecord;
  platform: string | null;
  config: BlobRecord;
  /** Every layer in the manifest's order (one may repeat), as manifest.json must list them. */
  layerDigests: Digest[];
  /** The distinct stored layers, in order. */
  layers: BlobRecord[];
}

/** Picks the image to export: the manifest itself, or the index's child for `platform` (default linux/amd64, else the first). */
export async function planExport(
  store: Pick<MetadataStore, "findManifest">,
  blobs: Pick<BlobServiceApi, "stat">,
  repository: RepositoryName,
  top: ManifestRecord,
  platform: string | null,
): Promise<ExportPlan> {
  let image = top;
  let chosen: string | null = null;
  const summary = summarizeManifest(top.mediaType, top.content);
  if (summary.kind === "index") {
    const candidates = summary.children.filter((c) => c.platform && !c.attestation);
    const child =
      (platform ? candidates.find((c) => formatPlatform(c.platform) === platform) : undefined) ??
      (platform ? undefined : candidates.find((c) => formatPlatform(c.platform) === "linux/amd64") ?? candidates[0]);
    if (!child) {
      throw new DomainError("InvalidRequest", platform ? `the index has no ${platform} image; it has ${candidates.map((c) => formatPlatform(c.platform)).join(", ")}` : "the index lists no platform image");
    }
    const found = await store.findManifest(repository, { digest: child.digest as Digest });
    if (!found) throw new DomainError("ManifestUnknown", { digest: child.digest, reason: "platform manifest not stored here" });
    image = found;
    chosen = formatPlatform(child.platform);
  }
  const s = summarizeManifest(image.mediaType, image.content);
  if (s.kind !== "image" || !s.configDigest) throw new DomainError("InvalidRequest", `a ${image.mediaType} is not a container image; only images can be exported`);
  // Every blob is checked (linked here, size known) before the first byte is sent: a failure after the
  // headers could only cut the connection.
  const config = await blobs.stat(repository, s.configDigest as Digest);
  const layerDigests = s.layers.filter((l) => !l.urls?.length).map((l) => l.digest as Digest);
  const layers: BlobRecord[] = [];
  for (const digest of new Set(layerDigests)) if (digest !== config.digest) layers.push(await blobs.stat(repository, digest));
  return { image, platform: chosen, config, layerDigests, layers };
}

/**
 * Streams an image as a tarball `docker load` reads: docker save's manifest.json (Config, RepoTags,
 * Layers) over an OCI image layout (oci-layout, index.json, blobs/sha256/…) — the format Docker 25+ itself
 * writes, which skopeo, podman and containerd read too. Layers stay as stored (compressed); docker load
 * decompresses them. Nothing is buffered beyond one blob's stream.
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
  const hex = (d: string) => d.slice(d.indexOf(":") + 1);
  const path = (d: string) => `blobs/${d.slice(0, d.indexOf(":"))}/${hex(d)}`;
  try {
    await addBuffer("oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    const annotations: Record<string, string> = {};
    if (repoTag) annotations["io.containerd.image.name"] = repoTag;
    if (tag) annotations["org.opencontainers.image.ref.name"] = tag;
    await addBuffer(
      "index.json",
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: [{ mediaType: plan.image.mediaType, digest: plan.image.digest, size: plan.image.content.length, ...(Object.keys(annotations).length ? { annotations } : {}) }],
      }),
    );
    const layerPaths = plan.layerDigests.map(path);
    await addBuffer("manifest.json", JSON.stringify([{ Config: path(plan.config.digest), RepoTags: repoTag ? [repoTag] : [], Layers: layerPaths }]));
    await addBuffer(path(plan.image.digest), plan.image.content);
    for (const blob of [plan.config, ...plan.layers]) {
      const source = await blobs.open(repository, blob);
      const entry = tar.entry({ name: path(blob.digest), size: blob.size, mtime: new Date(0), mode: 0o644 });
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
