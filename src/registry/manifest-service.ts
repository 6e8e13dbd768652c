import { OciError } from "../oci/errors";
import type { RepositoryName } from "../oci/names";
import type { ManifestRecord, ManifestReference, MetadataStore, PageRequest, ReferrerRecord } from "../metadata/store";
import { digestAlgorithm, digestOf, type Digest } from "./digest";
import { parseManifest } from "./manifest-parser";

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  subject: Digest | null;
}

/** Manifests, tags, catalog and referrers: everything that lives only in the metadata store. */
export class ManifestService {
  constructor(private readonly store: MetadataStore) {}

  put(repository: RepositoryName, reference: ManifestReference, content: Buffer, contentType: string | undefined): Promise<StoredManifest> {
    return this.store_(repository, reference, content, contentType, true);
  }

  /**
   * Stores a manifest copied from an upstream registry (the mirror): validated and digest-checked like a
   * push, but its blobs and children need not be here yet — they are fetched when first asked for.
   */
  cache(repository: RepositoryName, reference: ManifestReference, content: Buffer, mediaType: string): Promise<StoredManifest> {
    return this.store_(repository, reference, content, mediaType, false);
  }

  private async store_(
    repository: RepositoryName,
    reference: ManifestReference,
    content: Buffer,
    contentType: string | undefined,
    verifyReferences: boolean,
  ): Promise<StoredManifest> {
    const parsed = parseManifest(content, contentType);
    const digest = digestOf(content, "digest" in reference ? digestAlgorithm(reference.digest) : "sha256");
    if ("digest" in reference && reference.digest !== digest) {
      throw new OciError("DIGEST_INVALID", `manifest digest ${digest} does not match ${reference.digest}`);
    }
    const { missing } = await this.store.putManifest(
      repository,
      { digest, content, mediaType: parsed.mediaType, subject: parsed.subject, artifactType: parsed.artifactType, annotations: parsed.annotations, references: parsed.references },
      "tag" in reference ? reference.tag : null,
      { verifyReferences },
    );
    if (missing.length) {
      throw new OciError("MANIFEST_BLOB_UNKNOWN", { missing: missing.slice(0, 20) });
    }
    return { digest, mediaType: parsed.mediaType, subject: parsed.subject };
  }

  async get(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord> {
    const manifest = await this.store.findManifest(repository, reference);
    if (!manifest) throw new OciError("MANIFEST_UNKNOWN", describe(reference));
    return manifest;
  }

  /** By tag: removes the tag only. By digest: removes the manifest and every tag on it. */
  async delete(repository: RepositoryName, reference: ManifestReference): Promise<void> {
    const deleted =
      "tag" in reference
        ? await this.store.deleteTag(repository, reference.tag)
        : await this.store.deleteManifest(repository, reference.digest);
    if (!deleted) throw new OciError("MANIFEST_UNKNOWN", describe(reference));
  }

  async tags(repository: RepositoryName, page: PageRequest): Promise<string[]> {
    const tags = await this.store.listTags(repository, page);
    if (!tags) throw new OciError("NAME_UNKNOWN", { name: repository });
    return tags;
  }

  catalog(page: PageRequest): Promise<string[]> {
    return this.store.listRepositories(page);
  }

  async referrers(repository: RepositoryName, subject: Digest, artifactType: string | null): Promise<ReferrerRecord[]> {
    const all = await this.store.listReferrers(repository, subject);
    return artifactType === null ? all : all.filter((r) => r.artifactType === artifactType);
  }
}

function describe(reference: ManifestReference): Record<string, string> {
  return "tag" in reference ? { tag: reference.tag } : { digest: reference.digest };
}

/** What handlers use: ManifestService or a decorator of it (the pull-through mirror). */
export type ManifestServiceApi = Pick<ManifestService, "put" | "get" | "delete" | "tags" | "catalog" | "referrers">;
