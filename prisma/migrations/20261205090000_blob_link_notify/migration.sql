-- Blob links are cached in memory too (src/metadata/content-cache.ts: a HEAD or GET of a blob then costs
-- no database round trip), so removing a blob from a repository is announced like a manifest change, to
-- every Berth process, whoever removes it (a DELETE on another replica, the garbage collector, mirror
-- eviction, raw SQL). Links only ever appear or disappear; a new link needs no announcement, since only
-- links found are cached.
CREATE TRIGGER "repository_blob_changed_delete" AFTER DELETE ON "repository_blob"
    REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_notify_manifest_change"();
