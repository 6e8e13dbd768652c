import { baseMediaType, MediaType } from "../kernel/media-types";

// Docker schema 2 manifests are served whatever the client asks, as the CNCF registry does; OCI types and
// manifest lists only to clients that say they understand them, since older clients would misread them.
const NEGOTIATED: ReadonlySet<string> = new Set([MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST]);

export function acceptsMediaType(accept: string | undefined, mediaType: string): boolean {
  if (!accept || !NEGOTIATED.has(mediaType)) return true;
  return accept.split(",").some((entry) => {
    const type = baseMediaType(entry);
    return type === mediaType || type === "*/*" || type === "application/*";
  });
}
