-- Tell every Berth process which repositories' manifests or tags changed, whoever changed them (a push on
-- another replica, the garbage collector, a `berth gc` run, retention, the mirror): each keeps an
-- in-process cache of manifests (src/metadata/manifest-cache.ts) and drops a repository's entries when
-- told. The payload is a comma-separated list of repository ids, or "*" when it would not fit in a
-- notification (8000 bytes). Notifications go out when the transaction commits, and never if it rolls back.
CREATE OR REPLACE FUNCTION "berth_notify_manifest_change"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT string_agg(DISTINCT "repository_id"::text, ',') INTO ids FROM "old_rows";
    ELSE
        SELECT string_agg(DISTINCT "repository_id"::text, ',') INTO ids FROM "new_rows";
    END IF;
    IF ids IS NOT NULL THEN
        PERFORM pg_notify('berth_manifest_change', CASE WHEN length(ids) > 7000 THEN '*' ELSE ids END);
    END IF;
    RETURN NULL;
END $$;

-- A tag moved to another manifest. (Pull bookkeeping updates tags too, and must not empty the caches.)
CREATE OR REPLACE FUNCTION "berth_notify_tag_moved"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_manifest_change', NEW."repository_id"::text);
    RETURN NULL;
END $$;

CREATE TRIGGER "manifest_changed_insert" AFTER INSERT ON "manifest"
    REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_notify_manifest_change"();
CREATE TRIGGER "manifest_changed_delete" AFTER DELETE ON "manifest"
    REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_notify_manifest_change"();
CREATE TRIGGER "tag_changed_insert" AFTER INSERT ON "tag"
    REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_notify_manifest_change"();
CREATE TRIGGER "tag_changed_update" AFTER UPDATE OF "manifest_id" ON "tag"
    FOR EACH ROW WHEN (OLD."manifest_id" IS DISTINCT FROM NEW."manifest_id") EXECUTE FUNCTION "berth_notify_tag_moved"();
CREATE TRIGGER "tag_changed_delete" AFTER DELETE ON "tag"
    REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_notify_manifest_change"();
