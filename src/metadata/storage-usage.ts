// Storage usage, like `docker system df`: per repository, per project and in total, from the metadata.
import { projectOf } from "../kernel/names";
import { num, type GcDatabase } from "./gc-sql";

export interface RepositoryUsage {
  repository: string;
  project: string;
  /** Blobs readable in the repository and their bytes (a layer shared with other repositories counts here too). */
  blobs: number;
  blobBytes: number;
  /** Bytes of the blobs no other repository has: what deleting this repository could free. */
  exclusiveBytes: number;
  manifests: number;
  manifestBytes: number;
  tags: number;
  uploads: number;
  uploadBytes: number;
}

export interface ProjectUsage {
  project: string;
  repositories: number;
  /** Distinct blobs across the project's repositories (shared layers counted once). */
  blobs: number;
  blobBytes: number;
  manifests: number;
  manifestBytes: number;
}

export interface StorageUsage {
  total: {
    repositories: number;
    /** Distinct blobs readable in at least one repository: each shared layer counted once. */
    blobs: number;
    blobBytes: number;
    /** Every blob in storage, including unreferenced ones garbage collection has yet to remove. */
    storedBlobs: number;
    storedBlobBytes: number;
    /** Sum of the repositories' blobBytes: what storage would hold without sharing layers. */
    undedupedBlobBytes: number;
    manifests: number;
    manifestBytes: number;
    uploads: number;
    uploadBytes: number;
  };
  projects: ProjectUsage[];
  /** Largest first. */
  repositories: RepositoryUsage[];
}

export async function storageUsage(db: GcDatabase): Promise<StorageUsage> {
  return db.transaction(
    async (q) => {
      const repos = await q<{
        name: string; blobs: number; blob_bytes: unknown; exclusive_bytes: unknown; manifests: number; manifest_bytes: unknown;
        tags: number; uploads: number; upload_bytes: unknown;
      }>(
        `SELECT r.name,
                coalesce(l.blobs, 0) AS blobs, coalesce(l.bytes, 0)::int8 AS blob_bytes, coalesce(l.exclusive, 0)::int8 AS exclusive_bytes,
                coalesce(m.n, 0) AS manifests, coalesce(m.bytes, 0)::int8 AS manifest_bytes,
                coalesce(t.n, 0) AS tags, coalesce(u.n, 0) AS uploads, coalesce(u.bytes, 0)::int8 AS upload_bytes
         FROM repository r
         LEFT JOIN (SELECT rb.repository_id, count(*)::int AS blobs, sum(b.size) AS bytes,
                           sum(b.size) FILTER (WHERE NOT EXISTS (
                             SELECT 1 FROM repository_blob o WHERE o.digest = rb.digest AND o.repository_id <> rb.repository_id)) AS exclusive
                    FROM repository_blob rb JOIN blob b ON b.digest = rb.digest GROUP BY 1) l ON l.repository_id = r.id
         LEFT JOIN (SELECT repository_id, count(*)::int AS n, sum(size) AS bytes FROM manifest GROUP BY 1) m ON m.repository_id = r.id
         LEFT JOIN (SELECT repository_id, count(*)::int AS n FROM tag GROUP BY 1) t ON t.repository_id = r.id
         LEFT JOIN (SELECT repository_id, count(*)::int AS n, sum("offset") AS bytes FROM upload GROUP BY 1) u ON u.repository_id = r.id`,
      );
      const projectBlobs = await q<{ project: string; blobs: number; bytes: unknown }>(
        `SELECT p.project, count(*)::int AS blobs, coalesce(sum(b.size), 0)::int8 AS bytes
         FROM (SELECT DISTINCT split_part(r.name, '/', 1) AS project, rb.digest
               FROM repository_blob rb JOIN repository r ON r.id = rb.repository_id) p
         JOIN blob b ON b.digest = p.digest GROUP BY 1`,
      );
      const [totals] = await q<{ blobs: number; bytes: unknown; stored: number; stored_bytes: unknown }>(
        `SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM repository_blob rb WHERE rb.digest = b.digest))::int AS blobs,
                coalesce(sum(b.size) FILTER (WHERE EXISTS (SELECT 1 FROM repository_blob rb WHERE rb.digest = b.digest)), 0)::int8 AS bytes,
                count(*)::int AS stored, coalesce(sum(b.size), 0)::int8 AS stored_bytes
         FROM blob b`,
      );

      const repositories: RepositoryUsage[] = repos.map((r) => ({
        repository: r.name,
        project: projectOf(r.name),
        blobs: r.blobs,
        blobBytes: num(r.blob_bytes),
        exclusiveBytes: num(r.exclusive_bytes),
        manifests: r.manifests,
        manifestBytes: num(r.manifest_bytes),
        tags: r.tags,
        uploads: r.uploads,
        uploadBytes: num(r.upload_bytes),
      }));
      repositories.sort((a, b) => b.blobBytes + b.manifestBytes - (a.blobBytes + a.manifestBytes) || (a.repository < b.repository ? -1 : 1));

      const projects = new Map<string, ProjectUsage>();
      for (const r of repositories) {
        const p = projects.get(r.project) ?? { project: r.project, repositories: 0, blobs: 0, blobBytes: 0, manifests: 0, manifestBytes: 0 };
        p.repositories++;
        p.manifests += r.manifests;
        p.manifestBytes += r.manifestBytes;
        projects.set(r.project, p);
      }
      for (const row of projectBlobs) {
        const p = projects.get(row.project);
        if (p) Object.assign(p, { blobs: row.blobs, blobBytes: num(row.bytes) });
      }

      return {
        total: {
          repositories: repositories.length,
          blobs: totals.blobs,
          blobBytes: num(totals.bytes),
          storedBlobs: totals.stored,
          storedBlobBytes: num(totals.stored_bytes),
          undedupedBlobBytes: repositories.reduce((n, r) => n + r.blobBytes, 0),
          manifests: repositories.reduce((n, r) => n + r.manifests, 0),
          manifestBytes: repositories.reduce((n, r) => n + r.manifestBytes, 0),
          uploads: repositories.reduce((n, r) => n + r.uploads, 0),
          uploadBytes: repositories.reduce((n, r) => n + r.uploadBytes, 0),
        },
        projects: [...projects.values()].sort((a, b) => b.blobBytes - a.blobBytes || (a.project < b.project ? -1 : 1)),
        repositories,
      };
    },
    { readOnlySnapshot: true },
  );
}
