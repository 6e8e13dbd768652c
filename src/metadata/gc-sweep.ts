// The sweep's batches (src/gc/collector.ts): each one transaction that takes its row locks, re-checks its
// condition in a new statement and adds what it deleted to the run's counters. See the collector's RACE
// SAFETY comment for why each lock is the one it takes.
import type { Digest } from "../kernel/digest";
import type { WriterState } from "../storage/driver";
import { keptCte } from "./gc-mark";
import { addToRun, logDeleted } from "./gc-runs";
import { num, type GcDatabase, type Query } from "./gc-sql";

export interface GcClock {
  now: Date;
  /** now less the grace period. */
  cutoff: Date;
  /** now less the upload timeout. */
  uploadCutoff: Date;
}

export interface StaleUpload {
  id: string;
  repositoryId: number;
  bytes: number;
  driverState: WriterState | null;
}

/** The database's clock, and the cutoffs a run uses, from it. */
export async function gcClock(db: GcDatabase, graceMs: number, uploadTimeoutMs: number): Promise<GcClock> {
  const [clock] = await db.query<{ now: Date; cutoff: Date; upload_cutoff: Date }>(
    `SELECT now() AS now, now() - make_interval(secs => $1::float8) AS cutoff,
            now() - make_interval(secs => $2::float8) AS upload_cutoff`,
    [graceMs / 1000, uploadTimeoutMs / 1000],
  );
  return { now: clock.now, cutoff: clock.cutoff, uploadCutoff: clock.upload_cutoff };
}

export async function databaseNow(db: GcDatabase): Promise<Date> {
  const [{ now }] = await db.query<{ now: Date }>(`SELECT now() AS now`);
  return now;
}

/**
 * `deleteBatch` in one transaction holding the repository's row FOR UPDATE; nothing when the repository is
 * gone. `deleteBatch` runs after the lock, so its statement sees everything committed before the lock was granted.
 */
function underRepositoryLock<T>(db: GcDatabase, repositoryId: number, deleteBatch: (q: Query) => Promise<T[]>): Promise<T[]> {
  return db.transaction(async (q) => {
    const locked = await q(`SELECT id FROM repository WHERE id = $1 FOR UPDATE`, [repositoryId]);
    return locked.length ? deleteBatch(q) : [];
  });
}

/**
 * Up to `batch` dangling manifests of the repository, under its row lock. Newest first: indexes and
 * referrers are pushed after what they name, so they go first, and an interrupted sweep leaves orphans
 * rather than an index missing a child.
 */
export function sweepManifestBatch(
  db: GcDatabase,
  runId: number,
  repositoryId: number,
  cutoff: Date,
  batch: number,
): Promise<Array<{ id: number; digest: string; size: number }>> {
  return underRepositoryLock(db, repositoryId, async (q) => {
    const deleted = await q<{ id: number; digest: string; size: number }>(
      `WITH RECURSIVE ${keptCte({ cutoff: "$2::timestamptz", repository: "$1" })}
       DELETE FROM manifest m WHERE m.id IN (
         SELECT c.id FROM manifest c
         WHERE c.repository_id = $1 AND c.created_at < $2
           AND NOT EXISTS (SELECT 1 FROM kept k WHERE k.id = c.id)
         ORDER BY c.id DESC LIMIT $3)
       RETURNING m.id, m.digest, m.size`,
      [repositoryId, cutoff, batch],
    );
    if (deleted.length) {
      await addToRun(q, runId, { manifests: deleted.length });
      await logDeleted(q, runId, deleted.map((m) => ({ kind: "manifest", repositoryId, digest: m.digest, bytes: m.size })));
    }
    return deleted;
  });
}

/** Up to `batch` links no manifest of their repository references, under the repository's row lock. */
export function sweepLinkBatch(
  db: GcDatabase,
  runId: number,
  repositoryId: number,
  cutoff: Date,
  batch: number,
): Promise<Array<{ digest: string; size: number }>> {
  return underRepositoryLock(db, repositoryId, async (q) => {
    const deleted = await q<{ digest: string; size: unknown }>(
      `WITH doomed AS (
         SELECT rb.digest FROM repository_blob rb JOIN blob b ON b.digest = rb.digest
         WHERE rb.repository_id = $1 AND rb.created_at < $2 AND b.last_touched_at < $2
           AND NOT EXISTS (SELECT 1 FROM manifest_reference mr JOIN manifest m ON m.id = mr.manifest_id
                           WHERE mr.digest = rb.digest AND m.repository_id = $1)
         ORDER BY rb.digest LIMIT $3)
       DELETE FROM repository_blob rb USING doomed d, blob b
       WHERE rb.repository_id = $1 AND rb.digest = d.digest AND b.digest = rb.digest
       RETURNING rb.digest, b.size`,
      [repositoryId, cutoff, batch],
    );
    const links = deleted.map((r) => ({ digest: r.digest, size: num(r.size) }));
    if (links.length) {
      await addToRun(q, runId, { links: links.length });
      await logDeleted(q, runId, links.map((l) => ({ kind: "link", repositoryId, digest: l.digest, bytes: l.size })));
    }
    return links;
  });
}

/**
 * Up to `batch` blobs after `after` (digest order) with no link and no reference, their rows locked (SKIP
 * LOCKED: a blob in use now is left for the next run) while `deleteBytes` deletes their bytes, before the
 * commit: no upload can place new bytes for these digests meanwhile. `seen` counts the rows locked, `last`
 * is where the next batch starts.
 */
export function sweepBlobBatch(
  db: GcDatabase,
  runId: number,
  after: string,
  cutoff: Date,
  batch: number,
  deleteBytes: (digests: Digest[]) => Promise<void>,
): Promise<{ deleted: Array<{ digest: string; size: number }>; last: string; seen: number }> {
  const unused = `b.last_touched_at < $2
      AND NOT EXISTS (SELECT 1 FROM repository_blob rb WHERE rb.digest = b.digest)
      AND NOT EXISTS (SELECT 1 FROM manifest_reference mr WHERE mr.digest = b.digest)`;
  return db.transaction(async (q) => {
    const locked = await q<{ digest: string }>(
      `SELECT b.digest FROM blob b WHERE b.digest > $1 AND ${unused}
       ORDER BY b.digest LIMIT $3 FOR UPDATE OF b SKIP LOCKED`,
      [after, cutoff, batch],
    );
    if (!locked.length) return { deleted: [], last: after, seen: 0 };
    // Re-check in a new statement, now that the rows are ours (see the collector's comment).
    const rows = await q<{ digest: string; size: unknown }>(
      `DELETE FROM blob b WHERE b.digest = ANY($1::text[]) AND ${unused} RETURNING b.digest, b.size`,
      [locked.map((r) => r.digest), cutoff],
    );
    await deleteBytes(rows.map((r) => r.digest as Digest));
    const deleted = rows.map((r) => ({ digest: r.digest, size: num(r.size) }));
    if (deleted.length) {
      await addToRun(q, runId, { blobs: deleted.length, bytes: deleted.reduce((n, d) => n + d.size, 0) });
      await logDeleted(q, runId, deleted.map((b) => ({ kind: "blob", digest: b.digest, bytes: b.size })));
    }
    return { deleted, last: locked[locked.length - 1].digest, seen: locked.length };
  });
}

/**
 * Up to `batch` upload sessions idle since `uploadCutoff`, locked (SKIP LOCKED) while `discard` deletes
 * their partial data, then deleted.
 */
export function sweepUploadBatch(
  db: GcDatabase,
  runId: number,
  uploadCutoff: Date,
  batch: number,
  discard: (stale: StaleUpload[]) => Promise<void>,
): Promise<StaleUpload[]> {
  return db.transaction(async (q) => {
    const rows = await q<{ id: string; repository_id: number; offset: unknown; driver_state: WriterState | null }>(
      `SELECT u.id::text AS id, u.repository_id, u."offset", u.driver_state FROM upload u
       WHERE u.updated_at < $1 ORDER BY u.updated_at, u.id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [uploadCutoff, batch],
    );
    if (!rows.length) return [];
    const stale = rows.map((u) => ({ id: u.id, repositoryId: u.repository_id, bytes: num(u.offset), driverState: u.driver_state }));
    await discard(stale);
    await q(`DELETE FROM upload WHERE id = ANY($1::uuid[])`, [stale.map((u) => u.id)]);
    await addToRun(q, runId, { uploads: stale.length, bytes: stale.reduce((n, u) => n + u.bytes, 0) });
    await logDeleted(q, runId, stale.map((u) => ({ kind: "upload", repositoryId: u.repositoryId, digest: u.id, bytes: u.bytes })));
    return stale;
  });
}

/** Those of the upload ids with a session row, or a live mirror fetch sharing its download (no session row). */
export async function liveUploadIds(db: GcDatabase, ids: string[]): Promise<Set<string>> {
  const live = new Set<string>();
  for (let i = 0; i < ids.length; i += 1000) {
    const rows = await db.query<{ id: string }>(
      `SELECT id::text AS id FROM upload WHERE id = ANY($1::uuid[])
       UNION SELECT upload_id::text FROM mirror_fetch WHERE upload_id = ANY($1::uuid[]) AND expires_at > now()`,
      [ids.slice(i, i + 1000)],
    );
    rows.forEach((r) => live.add(r.id));
  }
  return live;
}

export function repositoryNames(db: GcDatabase, ids: number[]): Promise<Array<{ id: number; name: string }>> {
  return db.query<{ id: number; name: string }>(`SELECT id, name FROM repository WHERE id = ANY($1::int[])`, [ids]);
}
