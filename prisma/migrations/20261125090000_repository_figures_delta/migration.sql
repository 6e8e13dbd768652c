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
