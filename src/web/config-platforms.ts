import type { Digest } from "../kernel/digest";
import type { RepositoryName } from "../kernel/names";
import type { RegistryServices } from "../oci/routes";
import { readImageConfig, type Platform } from "./image-info";

/** Image configs the list reads a platform from; other config types (Helm charts, signatures) have none. */
export const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set(["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"]);

/** Larger configs are left unread in lists (the image page still reads them): a platform is not worth megabytes. */
const MAX_LIST_CONFIG_BYTES = 1024 * 1024;
const CACHE_ENTRIES = 10_000;

/**
 * The os/arch of single images, read from their config blobs for the tag and artifact lists. A config is
 * content-addressed, so what it says never changes: answers are kept (the most recent 10,000), and a page
 * reads each config at most once. A config that cannot be read answers null, never an error.
 */
export class ConfigPlatforms {
  private readonly cache = new Map<string, Platform | null>();

  constructor(private readonly blobs: RegistryServices["blobs"]) {}

  async of(repository: RepositoryName, digest: string): Promise<Platform | null> {
    if (this.cache.has(digest)) return this.cache.get(digest)!;
    const platform = await this.read(repository, digest as Digest);
    this.cache.set(digest, platform);
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return platform;
  }

  private async read(repository: RepositoryName, digest: Digest): Promise<Platform | null> {
    try {
      const blob = await this.blobs.stat(repository, digest);
      if (blob.size > MAX_LIST_CONFIG_BYTES) return null;
      const chunks: Buffer[] = [];
      for await (const chunk of await this.blobs.open(repository, blob)) chunks.push(chunk as Buffer);
      const config = readImageConfig(Buffer.concat(chunks));
      if (!config?.os || !config.architecture) return null;
      return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    } catch {
      // A missing or unreadable config (a blob not yet pushed, storage trouble) just shows no platform.
      return null;
    }
  }
}
