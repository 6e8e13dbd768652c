import type { MetadataStore, ManifestReference } from "../metadata/store";
import { DomainError } from "../kernel/errors";
import type { RepositoryName, TagName } from "../kernel/names";
import type { Digest } from "../kernel/digest";
import { parseManifest } from "../registry/manifest-parser";
import { immutableTagError, type TagImmutability } from "../registry/manifest-service";

/**
 * Retag / copy an image server-side, like `docker tag` + `docker push` without a client: the target gets
 * links to the blobs it needs and copies of the manifest rows (an index with its platform manifests);
 * no blob byte is read or written.
 */
export async function copyImage(
  store: Pick<MetadataStore, "findManifest" | "mountBlob" | "putManifest">,
  from: RepositoryName,
  reference: ManifestReference,
  to: RepositoryName,
  tag: TagName | null,
  immutability: TagImmutability,
): Promise<{ digest: Digest; mediaType: string }> {
  const manifest = await store.findManifest(from, reference);
  if (!manifest) throw new DomainError("ManifestUnknown", "tag" in reference ? { tag: reference.tag } : { digest: reference.digest });
  // The same guard as a push: a copy must not move an immutable tag either.
  const rule = tag === null ? null : immutability.ruleFor(to, tag);
  await copyTree(store, from, to, manifest.digest, tag, rule, new Set());
  return { digest: manifest.digest, mediaType: manifest.mediaType };
}

async function copyTree(
  store: Pick<MetadataStore, "findManifest" | "mountBlob" | "putManifest">,
  from: RepositoryName,
  to: RepositoryName,
  digest: Digest,
  tag: TagName | null,
  immutableRule: string | null,
  seen: Set<string>,
): Promise<void> {
  if (seen.has(digest)) return;
  seen.add(digest);
  const manifest = await store.findManifest(from, { digest });
  if (!manifest) throw new DomainError("ManifestUnknown", { digest, reason: `not stored in ${from}` });
  const parsed = parseManifest(manifest.content, manifest.mediaType);
  for (const ref of parsed.references) {
    if (ref.kind === "manifest") await copyTree(store, from, to, ref.digest, null, null, seen);
    else if (!(await store.mountBlob(from, to, ref.digest))) {
      // A mirror fetches blobs on first pull: until then the cached manifest names blobs we lack.
      throw new DomainError("BlobUnknown", { digest: ref.digest, reason: `not stored in ${from} (pull the image once first)` });
    }
  }
  const { missing, immutableTagHeldBy } = await store.putManifest(
    to,
    {
      digest: manifest.digest,
      mediaType: parsed.mediaType,
      content: manifest.content,
      subject: parsed.subject,
      artifactType: parsed.artifactType,
      annotations: parsed.annotations,
      references: parsed.references,
    },
    tag,
    { verifyReferences: true, immutableTag: immutableRule !== null },
  );
  if (immutableTagHeldBy) throw immutableTagError(tag!, immutableRule!, "overwritten", { digest: immutableTagHeldBy });
  if (missing.length) throw new DomainError("ManifestBlobUnknown", { missing: missing.slice(0, 20) });
}
