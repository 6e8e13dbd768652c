import { digestAlgorithm, digestHex, type Digest } from "../kernel/digest";

/**
 * Where bytes live in the storage driver. Blobs are content-addressed and shared by every repository;
 * which repository may read them is metadata (repository_blob), not layout.
 */
export function blobPath(digest: Digest): string {
  const hex = digestHex(digest);
  return `blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
}

export function uploadPath(uploadId: string): string {
  return `uploads/${uploadId}/data`;
}

export function uploadDir(uploadId: string): string {
  return `uploads/${uploadId}`;
}
