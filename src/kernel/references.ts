import { isDigestLike, parseDigest, type Digest } from "./digest";
import { parseTag, type TagName } from "./names";

/** What a manifest is asked by: a digest, or a tag. */
export type ManifestReference = { digest: Digest } | { tag: TagName };

export function parseManifestReference(value: string): ManifestReference {
  return isDigestLike(value) ? { digest: parseDigest(value) } : { tag: parseTag(value) };
}
