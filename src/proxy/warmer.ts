import { DomainError } from "../kernel/errors";
import { parseRepositoryName, type RepositoryName } from "../kernel/names";
import { parseManifestReference } from "../kernel/references";
import type { BlobServiceApi } from "../registry/blob-service";
import { parseManifest } from "../registry/manifest-parser";
import { INDEX_TYPES } from "../kernel/media-types";
import type { ManifestServiceApi } from "../registry/manifest-service";
import type { Digest } from "../kernel/digest";

export interface WarmResult {
  image: string;
  manifests: number;
  blobs: number;
  bytes: number;
}

/**
 * Pre-warms the mirror: pulls an image (every platform of an index) through the same services clients use,
 * so its manifests and blobs are cached before the first real pull.
 */
export class Warmer {
  constructor(
    private readonly manifests: ManifestServiceApi,
    private readonly blobs: BlobServiceApi,
  ) {}

  async warm(image: string): Promise<WarmResult> {
    const { repository, reference } = parseImage(image);
    const result: WarmResult = { image, manifests: 0, blobs: 0, bytes: 0 };
    const seen = new Set<string>();
    const visit = async (ref: string): Promise<void> => {
      const manifest = await this.manifests.get(repository, parseManifestReference(ref));
      result.manifests++;
      const parsed = parseManifest(manifest.content, manifest.mediaType);
      for (const child of parsed.references) {
        if (seen.has(child.digest)) continue;
        seen.add(child.digest);
        if (INDEX_TYPES.has(parsed.mediaType)) await visit(child.digest);
        else {
          result.blobs++;
          result.bytes += await this.drain(repository, child.digest);
        }
      }
    };
    await visit(reference);
    return result;
  }

  private async drain(repository: RepositoryName, digest: Digest): Promise<number> {
    const blob = await this.blobs.stat(repository, digest);
    const stream = await this.blobs.open(repository, blob);
    for await (const _chunk of stream) {
      // reading is the point: the fetch completes and lands in the cache
    }
    return blob.size;
  }
}

/** "nginx" → library/nginx:latest; "team/app:1"; "ghcr.io/o/i@sha256:…" → name under our prefix as given. */
export function parseImage(image: string): { repository: RepositoryName; reference: string } {
  const at = image.indexOf("@");
  let name: string;
  let reference: string;
  if (at !== -1) {
    name = image.slice(0, at);
    reference = image.slice(at + 1);
  } else {
    const colon = image.lastIndexOf(":");
    const hasTag = colon > image.lastIndexOf("/");
    name = hasTag ? image.slice(0, colon) : image;
    reference = hasTag ? image.slice(colon + 1) : "latest";
  }
  if (!name.includes("/")) name = `library/${name}`;
  try {
    return { repository: parseRepositoryName(name), reference };
  } catch {
    throw new DomainError("NameInvalid", `not an image reference: ${image}`);
  }
}
