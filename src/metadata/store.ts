import type { Digest } from "../kernel/digest";
import type { RepositoryName, TagName } from "../kernel/names";
import type { ManifestReference } from "../kernel/references";
import type { WriterState } from "../storage/driver";

/**
 * Every fact Berth keeps about content, behind one interface so services never see SQL or the ORM.
 * Postgres (or the embedded PGlite) is the only source of truth; storage only holds bytes.
 */
export interface MetadataStore {
  /**
   * The blob if readable in the repository. With `touchIfIdleMs`, also marks the blob as just used when
   * it was last touched longer ago than that (garbage collection spares recently touched blobs), so
   * reads write at most once per blob and interval.
   */
  findLinkedBlob(repository: RepositoryName, digest: Digest, options?: { touchIfIdleMs?: number }): Promise<BlobRecord | null>;
  /** Records the blob (if new) and makes it readable in the repository. */
  linkBlob(repository: RepositoryName, blob: BlobRecord): Promise<void>;
  /**
   * Like linkBlob, but runs `place` (which puts the bytes at the blob's storage path) while the blob's row
   * is locked, so a garbage collection deleting that blob's bytes either finished before or waits and
   * then finds the blob in use (see src/gc/collector.ts). Nothing is recorded when `place` fails.
   */
  publishBlob(repository: RepositoryName, blob: BlobRecord, place: () => Promise<void>): Promise<void>;
  /**
   * publishBlob for the bytes of an upload session, ending the session in the same transaction — but only
   * if it still stands at `upload.offset`: otherwise another request moved it on, nothing happens (place
   * is not called) and the result is false.
   */
  publishUpload(repository: RepositoryName, upload: { id: string; offset: number }, blob: BlobRecord, place: () => Promise<void>): Promise<boolean>;
  /** Links a blob readable in `from` into `to`; null when `from` cannot read it. */
  mountBlob(from: RepositoryName, to: RepositoryName, digest: Digest): Promise<BlobRecord | null>;
  /** `guard` sees every tag the blob is reachable from (through indexes too) and may throw to keep it. */
  unlinkBlob(repository: RepositoryName, digest: Digest, guard?: (tags: string[]) => void): Promise<boolean>;

  createUpload(repository: RepositoryName, id: string): Promise<UploadRecord>;
  findUpload(repository: RepositoryName, id: string): Promise<UploadRecord | null>;
  /** Compare-and-set on the offset, so two requests racing on one upload cannot both append. */
  advanceUpload(id: string, expectedOffset: number, next: { offset: number; driverState: WriterState }): Promise<boolean>;
  deleteUpload(id: string): Promise<boolean>;

  /**
   * Stores a manifest, its references and optionally a tag in one transaction. Referenced blobs must be
   * linked in the repository and referenced manifests stored there; otherwise nothing is written (but the
   * repository's row) and the missing digests are returned. (`verifyReferences: false` skips that, for content cached from a mirror.)
   */
  putManifest(
    repository: RepositoryName,
    manifest: NewManifest,
    tag: TagName | null,
    options?: PutManifestOptions,
  ): Promise<{ missing: Digest[]; immutableTagHeldBy?: Digest }>;
  findManifest(repository: RepositoryName, reference: ManifestReference): Promise<ManifestRecord | null>;
  deleteTag(repository: RepositoryName, tag: TagName): Promise<boolean>;
  /**
   * Deletes the manifest and every tag pointing at it. `guard`, when given, sees those tags with the
   * manifest locked (no tag can be added meanwhile) and may throw to refuse the deletion.
   */
  deleteManifest(repository: RepositoryName, digest: Digest, guard?: (tags: string[]) => void): Promise<boolean>;
  /** Null when the repository is unknown. */
  listTags(repository: RepositoryName, page: PageRequest): Promise<string[] | null>;
  listRepositories(page: PageRequest): Promise<string[]>;
  listReferrers(repository: RepositoryName, subject: Digest): Promise<ReferrerRecord[]>;
}

export interface BlobRecord {
  digest: Digest;
  size: number;
}

export interface PutManifestOptions {
  /** False for content cached from a mirror upstream: its blobs and children arrive later, on demand. */
  verifyReferences?: boolean;
  /**
   * The tag must not move: when it already names another manifest nothing is written and the result's
   * `immutableTagHeldBy` is that manifest's digest. Checked inside the transaction, so two pushes racing
   * to create the tag cannot both win.
   */
  immutableTag?: boolean;
}

export interface UploadRecord {
  id: string;
  repository: RepositoryName;
  offset: number;
  driverState: WriterState | null;
  startedAt: Date;
  updatedAt: Date;
}

export type { ManifestReference };

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  content: Buffer;
  subject: Digest | null;
}

export interface NewManifest extends ManifestRecord {
  artifactType: string | null;
  annotations: Record<string, string> | null;
  references: Array<{ digest: Digest; kind: "blob" | "manifest" }>;
}

export interface ReferrerRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/** Lexically ordered pages: at most `limit` names strictly after `last`. */
export interface PageRequest {
  limit: number;
  last?: string;
}
