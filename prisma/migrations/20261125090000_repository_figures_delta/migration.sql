-- Per-repository figures (size, tag count, last push) through a delta table instead of UPDATEs of the
-- repository row. An UPDATE locks the row until the pushing transaction commits, so with the triggers of
-- 20261124100000_web every manifest PUT and blob link in one repository queued behind the one before.
-- The triggers now append rows here, which never conflict; berth_fold_repository_figures() adds them into
-- the repository rows (readers of the figures call it first, and the server calls it periodically).

-- CreateTable
CREATE TABLE "repository_figures_delta" (
    "id" BIGSERIAL NOT NULL,
    "repository_id" INTEGER NOT NULL,
    "size_bytes" BIGINT NOT NULL DEFAULT 0,
    "tag_count" INTEGER NOT NULL DEFAULT 0,
    "pushed_at" TIMESTAMPTZ(3),

    CONSTRAINT "repository_figures_delta_pkey" PRIMARY KEY ("id")
);

CREATE OR REPLACE FUNCTION "berth_repository_blob_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "repository_figures_delta" ("repository_id", "size_bytes")
    SELECT n."repository_id", sum(b."size") FROM "new_links" n JOIN "blob" b ON b."digest" = n."digest"
     GROUP BY n."repository_id";
    RETURN NULL;
END $$;

-- A link deleted with its blob (cascade) was already counted off by the blob's own trigger below: the
-- blob is gone by the time this runs, so the join finds nothing for it.
CREATE OR REPLACE FUNCTION "berth_repository_blob_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "repository_figures_delta" ("repository_id", "size_bytes")
    SELECT o."repository_id", -sum(b."size") FROM "old_links" o JOIN "blob" b ON b."digest" = o."digest"
     GROUP BY o."repository_id";
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_blob_deleting"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "repository_figures_delta" ("repository_id", "size_bytes")
    SELECT rb."repository_id", -OLD."size" FROM "repository_blob" rb WHERE rb."digest" = OLD."digest";
    RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION "berth_tag_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "repository_figures_delta" ("repository_id", "tag_count", "pushed_at")
    SELECT "repository_id", count(*), max("updated_at") FROM "new_tags" GROUP BY "repository_id";
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_tag_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "repository_figures_delta" ("repository_id", "tag_count")
    SELECT "repository_id", -count(*) FROM "old_tags" GROUP BY "repository_id";
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_tag_moved"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "repository_figures_delta" ("repository_id", "pushed_at") VALUES (NEW."repository_id", NEW."updated_at");
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_manifest_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "repository_figures_delta" ("repository_id", "pushed_at")
    SELECT "repository_id", max("created_at") FROM "new_manifests" GROUP BY "repository_id";
    RETURN NULL;
END $$;

-- One fold at a time (the advisory lock lasts until the calling statement's transaction ends): two folds
-- deleting the same delta rows in different orders could deadlock. Deltas of repositories deleted since
-- are simply dropped.
CREATE OR REPLACE FUNCTION "berth_fold_repository_figures"() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(72707372);
    WITH d AS (DELETE FROM "repository_figures_delta" RETURNING *),
         s AS (SELECT "repository_id", sum("size_bytes") AS "size", sum("tag_count") AS "tags", max("pushed_at") AS "at"
                 FROM d GROUP BY "repository_id")
    UPDATE "repository" r SET "size_bytes" = GREATEST(r."size_bytes" + s."size", 0),
                              "tag_count" = GREATEST(r."tag_count" + s."tags", 0),
                              "pushed_at" = GREATEST(r."pushed_at", s."at")
      FROM s WHERE r."id" = s."repository_id";
END $$;

-- A manifest PUT in one round trip (src/metadata/sql-store.ts calls it; the locking is explained there and
-- in src/gc/collector.ts). In a VOLATILE function each statement takes a fresh snapshot, as separate
-- statements of a READ COMMITTED transaction would. Returns the referenced digests the repository lacks
-- (nothing written then, beyond the repository row) or the manifest an immutable tag already names.
CREATE OR REPLACE FUNCTION "berth_put_manifest"(
    p_repository TEXT, p_digest TEXT, p_media_type TEXT, p_content BYTEA, p_subject TEXT, p_artifact_type TEXT,
    p_annotations JSONB, p_blobs TEXT[], p_children TEXT[], p_verify BOOLEAN, p_tag TEXT, p_immutable BOOLEAN,
    OUT missing TEXT[], OUT held_by TEXT
) LANGUAGE plpgsql AS $$
DECLARE
    repo_id INTEGER;
    present TEXT[];
    manifest_id INTEGER;
    tagged INTEGER;
BEGIN
    -- KEY SHARE: pushes to one repository go side by side; the collector's FOR UPDATE waits for them.
    SELECT r."id" INTO repo_id FROM "repository" r WHERE r."name" = p_repository FOR KEY SHARE;
    IF repo_id IS NULL THEN
        INSERT INTO "repository" ("name") VALUES (p_repository) ON CONFLICT ("name") DO NOTHING RETURNING "id" INTO repo_id;
        IF repo_id IS NULL THEN -- created by a concurrent push meanwhile: visible to this new statement
            SELECT r."id" INTO repo_id FROM "repository" r WHERE r."name" = p_repository FOR KEY SHARE;
        END IF;
    END IF;

    -- FOR SHARE holds what we reference until commit, so a concurrent delete (or GC) waits for us or wins first.
    SELECT array_agg(s."digest") INTO present FROM (
        SELECT rb."digest" FROM "repository_blob" rb
         WHERE rb."repository_id" = repo_id AND rb."digest" = ANY(p_blobs) FOR SHARE) s;
    IF cardinality(p_children) > 0 THEN
        SELECT COALESCE(present, '{}') || array_agg(s."digest") INTO present FROM (
            SELECT m."digest" FROM "manifest" m
             WHERE m."repository_id" = repo_id AND m."digest" = ANY(p_children) FOR SHARE) s;
    END IF;
    IF p_verify THEN
        SELECT array_agg(DISTINCT d) INTO missing FROM unnest(p_blobs || p_children) d WHERE d <> ALL(COALESCE(present, '{}'));
        IF missing IS NOT NULL THEN RETURN; END IF;
    END IF;

    IF p_immutable AND p_tag IS NOT NULL THEN
        SELECT m."digest" INTO held_by FROM "tag" t JOIN "manifest" m ON m."id" = t."manifest_id"
         WHERE t."repository_id" = repo_id AND t."name" = p_tag FOR UPDATE OF t;
        IF held_by = p_digest THEN
            held_by := NULL;
        ELSIF held_by IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;

    INSERT INTO "manifest" ("repository_id", "digest", "media_type", "content", "size", "subject_digest", "artifact_type", "annotations")
    VALUES (repo_id, p_digest, p_media_type, p_content, length(p_content), p_subject, p_artifact_type, p_annotations)
    ON CONFLICT ("repository_id", "digest") DO NOTHING
    RETURNING "id" INTO manifest_id;
    IF manifest_id IS NOT NULL THEN
        INSERT INTO "manifest_reference" ("manifest_id", "digest", "kind")
        SELECT DISTINCT ON (r."digest") manifest_id, r."digest", r."kind"
          FROM (SELECT unnest(p_blobs) AS "digest", 'blob' AS "kind"
                UNION ALL SELECT unnest(p_children), 'manifest') r;
    ELSE
        SELECT m."id" INTO manifest_id FROM "manifest" m WHERE m."repository_id" = repo_id AND m."digest" = p_digest;
    END IF;

    IF p_tag IS NOT NULL THEN
        -- An immutable tag moves only onto the manifest it names: a creator that raced ours and won makes
        -- this DO UPDATE's WHERE false, and the whole PUT is undone by the exception.
        INSERT INTO "tag" ("repository_id", "name", "manifest_id") VALUES (repo_id, p_tag, manifest_id)
        ON CONFLICT ("repository_id", "name") DO UPDATE SET "manifest_id" = EXCLUDED."manifest_id", "updated_at" = now()
         WHERE NOT p_immutable OR "tag"."manifest_id" = EXCLUDED."manifest_id";
        GET DIAGNOSTICS tagged = ROW_COUNT;
        IF tagged = 0 THEN
            RAISE EXCEPTION 'immutable tag % is held by another manifest', p_tag USING ERRCODE = 'BR001';
        END IF;
    END IF;
END $$;
