import { DomainError } from "../kernel/errors";
import type { RepositoryName } from "../kernel/names";
import type { ManifestRecord, ManifestReference, MetadataStore, PageRequest, ReferrerRecord } from "../metadata/store";
import { digestAlgorithm, digestOf, type Digest } from "../kernel/digest";
import { parseManifest } from "./manifest-parser";

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  subject: Digest | null;
}

/** Which tags may never be moved or deleted (src/gc/live-rules.ts: the configured and stored rules). */
export interface TagImmutability {
  /** No rule at all: deletes by digest skip the check (and its transaction). */
  readonly empty: boolean;
  /** The rule that makes the tag immutable, described for error messages, or null when it is mutable. */
  ruleFor(repository: RepositoryName, tag: string): string | null;
}

/** Manifests, tags, catalog and referrers: everything that lives only in the metadata store. */
export class ManifestService {
  constructor(
    private readonly store: MetadataStore,
    private readonly immutability: TagImmutability | null = null,
  ) {}

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
      throw new DomainError("DigestInvalid", `manifest digest ${digest} does not match ${reference.digest}`);
    }
    const tag = "tag" in reference ? reference.tag : null;
    const rule = tag === null ? null : this.immutableRule(repository, tag);
    const { missing, immutableTagHeldBy } = await this.store.putManifest(
      repository,
      { digest, content, mediaType: parsed.mediaType, subject: parsed.subject, artifactType: parsed.artifactType, annotations: parsed.annotations, references: parsed.references },
      tag,
      { verifyReferences, immutableTag: rule !== null },
    );
    if (immutableTagHeldBy) throw immutableTagError(tag!, rule!, "overwritten", { digest: immutableTagHeldBy });
    if (missing.length) {
      throw new DomainError("ManifestBlobUnknown", { missing: missing.slice(0, 20) });
    }
    return { digest, mediaType: parsed.mediaType, subject: parsed.subject };
  }

  async get(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord> {
    const manifest = await this.store.findManifest(repository, reference);
    if (!manifest) throw new DomainError("ManifestUnknown", describe(reference));
    return manifest;
  }

  /** By tag: removes the tag only. By digest: removes the manifest and every tag on it. */
  async delete(repository: RepositoryName, reference: ManifestReference): Promise<void> {
    let deleted: boolean;
    if ("tag" in reference) {
      const rule = this.immutableRule(repository, reference.tag);
      if (rule !== null) {
        const current = await this.store.findManifest(repository, reference);
        if (!current) throw new DomainError("ManifestUnknown", describe(reference));
        throw immutableTagError(reference.tag, rule, "deleted", { digest: current.digest });
      }
      deleted = await this.store.deleteTag(repository, reference.tag);
    } else {
      // Deleting a manifest deletes its tags, so an immutable tag on it forbids that too.
      const guard = this.immutability && !this.immutability.empty
        ? (tags: string[]) => {
            for (const tag of tags) {
              const rule = this.immutableRule(repository, tag);
              if (rule !== null) throw immutableTagError(tag, rule, "deleted", { digest: reference.digest });
            }
          }
        : undefined;
      deleted = await this.store.deleteManifest(repository, reference.digest, guard);
    }
    if (!deleted) throw new DomainError("ManifestUnknown", describe(reference));
  }

  private immutableRule(repository: RepositoryName, tag: string): string | null {
    return this.immutability?.ruleFor(repository, tag) ?? null;
  }

  async tags(repository: RepositoryName, page: PageRequest): Promise<string[]> {
    const tags = await this.store.listTags(repository, page);
    if (!tags) throw new DomainError("NameUnknown", { name: repository });
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

/** The manifest is fine, a policy refuses the operation on the tag; the summary says what happened. */
export function immutableTagError(tag: string, rule: string, verb: "overwritten" | "deleted", extra: Record<string, string>): DomainError {
  return new DomainError(
    "TagImmutable",
    { tag, reason: "immutable tag", rule, ...extra },
    { summary: `tag ${tag} is immutable (${rule}) and cannot be ${verb}` },
  );
}

function describe(reference: ManifestReference): Record<string, string> {
  return "tag" in reference ? { tag: reference.tag } : { digest: reference.digest };
}

/** What handlers use: ManifestService or a decorator of it (the pull-through mirror). */
export type ManifestServiceApi = Pick<ManifestService, "put" | "get" | "delete" | "tags" | "catalog" | "referrers">;
