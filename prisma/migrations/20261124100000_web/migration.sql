-- Web UI: browser sessions, and per-repository figures kept up to date by triggers so the repository
-- list can sort and page by last push, size and pulls through indexes (never by aggregating on read).

-- CreateTable
CREATE TABLE "web_session" (
    "id" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "csrf_token" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "web_session_pkey" PRIMARY KEY ("id")
);

-- AlterTable
ALTER TABLE "repository" ADD COLUMN "pushed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
ADD COLUMN "size_bytes" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN "tag_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "pull_count" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN "last_pulled_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "tag" ADD COLUMN "last_pulled_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "manifest" ADD COLUMN "last_pulled_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "web_session_expires_at_idx" ON "web_session"("expires_at");

-- CreateIndex
CREATE INDEX "repository_pushed_at_name_idx" ON "repository"("pushed_at", "name");

-- CreateIndex
CREATE INDEX "repository_size_bytes_name_idx" ON "repository"("size_bytes", "name");

-- CreateIndex
CREATE INDEX "repository_pull_count_name_idx" ON "repository"("pull_count", "name");

-- CreateIndex
CREATE INDEX "tag_repository_id_updated_at_name_idx" ON "tag"("repository_id", "updated_at", "name");

-- Backfill the figures for repositories that exist already.
UPDATE "repository" r SET
    "size_bytes" = COALESCE((SELECT sum(b."size") FROM "repository_blob" rb JOIN "blob" b ON b."digest" = rb."digest" WHERE rb."repository_id" = r."id"), 0),
    "tag_count" = (SELECT count(*) FROM "tag" t WHERE t."repository_id" = r."id"),
    "pushed_at" = GREATEST(
        r."created_at",
        (SELECT max(t."updated_at") FROM "tag" t WHERE t."repository_id" = r."id"),
        (SELECT max(m."created_at") FROM "manifest" m WHERE m."repository_id" = r."id"));

-- repository.size_bytes: the sizes of the distinct blobs linked into the repository.
CREATE OR REPLACE FUNCTION "berth_repository_blob_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "size_bytes" = r."size_bytes" + s."total"
    FROM (SELECT n."repository_id", sum(b."size") AS "total"
            FROM "new_links" n JOIN "blob" b ON b."digest" = n."digest"
           GROUP BY n."repository_id") s
    WHERE r."id" = s."repository_id";
    RETURN NULL;
END $$;

-- A link deleted with its blob (cascade) was already counted off by the blob's own trigger below: the
-- blob is gone by the time this runs, so the join finds nothing for it.
CREATE OR REPLACE FUNCTION "berth_repository_blob_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "size_bytes" = GREATEST(r."size_bytes" - s."total", 0)
    FROM (SELECT o."repository_id", sum(b."size") AS "total"
            FROM "old_links" o JOIN "blob" b ON b."digest" = o."digest"
           GROUP BY o."repository_id") s
    WHERE r."id" = s."repository_id";
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_blob_deleting"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "size_bytes" = GREATEST(r."size_bytes" - OLD."size", 0)
    WHERE r."id" IN (SELECT rb."repository_id" FROM "repository_blob" rb WHERE rb."digest" = OLD."digest");
    RETURN OLD;
END $$;

CREATE TRIGGER "repository_blob_inserted" AFTER INSERT ON "repository_blob"
    REFERENCING NEW TABLE AS "new_links" FOR EACH STATEMENT EXECUTE FUNCTION "berth_repository_blob_inserted"();
CREATE TRIGGER "repository_blob_deleted" AFTER DELETE ON "repository_blob"
    REFERENCING OLD TABLE AS "old_links" FOR EACH STATEMENT EXECUTE FUNCTION "berth_repository_blob_deleted"();
CREATE TRIGGER "blob_deleting" BEFORE DELETE ON "blob"
    FOR EACH ROW EXECUTE FUNCTION "berth_blob_deleting"();

-- repository.tag_count and repository.pushed_at (a new tag, a tag moved, or a manifest pushed).
CREATE OR REPLACE FUNCTION "berth_tag_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "tag_count" = r."tag_count" + s."n", "pushed_at" = GREATEST(r."pushed_at", s."at")
    FROM (SELECT "repository_id", count(*) AS "n", max("updated_at") AS "at" FROM "new_tags" GROUP BY "repository_id") s
    WHERE r."id" = s."repository_id";
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_tag_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "tag_count" = GREATEST(r."tag_count" - s."n", 0)
    FROM (SELECT "repository_id", count(*) AS "n" FROM "old_tags" GROUP BY "repository_id") s
    WHERE r."id" = s."repository_id";
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_tag_moved"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" SET "pushed_at" = GREATEST("pushed_at", NEW."updated_at") WHERE "id" = NEW."repository_id";
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_manifest_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "pushed_at" = GREATEST(r."pushed_at", s."at")
    FROM (SELECT "repository_id", max("created_at") AS "at" FROM "new_manifests" GROUP BY "repository_id") s
    WHERE r."id" = s."repository_id";
    RETURN NULL;
END $$;

CREATE TRIGGER "tag_inserted" AFTER INSERT ON "tag"
    REFERENCING NEW TABLE AS "new_tags" FOR EACH STATEMENT EXECUTE FUNCTION "berth_tag_inserted"();
CREATE TRIGGER "tag_deleted" AFTER DELETE ON "tag"
    REFERENCING OLD TABLE AS "old_tags" FOR EACH STATEMENT EXECUTE FUNCTION "berth_tag_deleted"();
CREATE TRIGGER "tag_moved" AFTER UPDATE OF "manifest_id", "updated_at" ON "tag"
    FOR EACH ROW EXECUTE FUNCTION "berth_tag_moved"();
CREATE TRIGGER "manifest_inserted" AFTER INSERT ON "manifest"
    REFERENCING NEW TABLE AS "new_manifests" FOR EACH STATEMENT EXECUTE FUNCTION "berth_manifest_inserted"();

-- Pulls, counted from the audit log's "pull" events (written in batches, off the request path): one per
-- manifest GET, except a GET by digest of a platform manifest that an index in the same repository lists
-- (the second request of a multi-platform pull).
CREATE OR REPLACE FUNCTION "berth_audit_pulls"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "pull_count" = r."pull_count" + s."n",
                              "last_pulled_at" = GREATEST(COALESCE(r."last_pulled_at", s."at"), s."at")
    FROM (SELECT e."repository", count(*) AS "n", max(e."at") AS "at"
            FROM "new_events" e
           WHERE e."action" = 'pull' AND e."success" AND e."repository" IS NOT NULL
             AND NOT (e."reference" LIKE '%:%' AND EXISTS (
                 SELECT 1 FROM "repository" r2
                   JOIN "manifest" p ON p."repository_id" = r2."id"
                   JOIN "manifest_reference" mr ON mr."manifest_id" = p."id"
                  WHERE r2."name" = e."repository" AND mr."digest" = e."reference" AND mr."kind" = 'manifest'))
           GROUP BY e."repository") s
    WHERE r."name" = s."repository";

    UPDATE "tag" t SET "last_pulled_at" = s."at"
    FROM "repository" r,
         (SELECT e."repository", e."reference", max(e."at") AS "at" FROM "new_events" e
           WHERE e."action" = 'pull' AND e."success" AND e."reference" NOT LIKE '%:%'
           GROUP BY e."repository", e."reference") s
    WHERE r."name" = s."repository" AND t."repository_id" = r."id" AND t."name" = s."reference";

    UPDATE "manifest" m SET "last_pulled_at" = s."at"
    FROM "repository" r,
         (SELECT e."repository", e."reference", max(e."at") AS "at" FROM "new_events" e
           WHERE e."action" = 'pull' AND e."success" AND e."reference" LIKE '%:%'
           GROUP BY e."repository", e."reference") s
    WHERE r."name" = s."repository" AND m."repository_id" = r."id" AND m."digest" = s."reference";
    RETURN NULL;
END $$;

CREATE TRIGGER "audit_event_pulls" AFTER INSERT ON "audit_event"
    REFERENCING NEW TABLE AS "new_events" FOR EACH STATEMENT EXECUTE FUNCTION "berth_audit_pulls"();
