-- Project storage quotas (issue 15). A project's usage counts each blob (and manifest) once, however many
-- of its repositories link it: project_blob keeps one row per project and digest with the number of links
-- (repository_blob rows and manifest rows) that hold it, kept by the triggers below in the same
-- transaction as the links. A digest new to the project adds its size to the usage; its last link gone
-- gives the size back (deletes, GC sweeps, repository and blob deletions alike).
--
-- Usage of a project without a quota goes through project_usage_delta (appends never conflict, as for the
-- repository figures of 20261125090000): pushes to an unlimited project do not queue behind each other.
-- A project with a quota takes its project_usage row in an atomic UPDATE … WHERE used + size <= quota,
-- which holds the row until commit, so concurrent pushes on any number of replicas cannot overshoot it.
-- A refusal raises SQLSTATE BR002 with the figures in DETAIL (src/metadata/sql-store.ts reads them).

CREATE TABLE "project_usage" (
    "project_id" INTEGER NOT NULL,
    "quota_bytes" BIGINT,
    "used_bytes" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "project_usage_pkey" PRIMARY KEY ("project_id"),
    CONSTRAINT "project_usage_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "project_usage_delta" (
    "id" BIGSERIAL NOT NULL,
    "project_id" INTEGER NOT NULL,
    "size_bytes" BIGINT NOT NULL,
    CONSTRAINT "project_usage_delta_pkey" PRIMARY KEY ("id")
);
-- Quota checks and the projects list add a project's pending changes to its row.
CREATE INDEX "project_usage_delta_project_id_idx" ON "project_usage_delta"("project_id");

CREATE TABLE "project_blob" (
    "project_id" INTEGER NOT NULL,
    "digest" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "links" INTEGER NOT NULL,
    CONSTRAINT "project_blob_pkey" PRIMARY KEY ("project_id", "digest")
);

-- No foreign key from project_blob to project: checking one would take the project row FOR KEY SHARE in every
-- push, which a project deletion (holding the row FOR UPDATE, then waiting for the pushes' repositories)
-- would deadlock with. A deleted project's rows go with it here instead.
CREATE OR REPLACE FUNCTION "berth_project_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM "project_blob" pb USING "old_projects" o WHERE pb."project_id" = o."id";
    DELETE FROM "project_usage_delta" d USING "old_projects" o WHERE d."project_id" = o."id";
    RETURN NULL;
END $$;
CREATE TRIGGER "project_deleted" AFTER DELETE ON "project"
    REFERENCING OLD TABLE AS "old_projects" FOR EACH STATEMENT EXECUTE FUNCTION "berth_project_deleted"();

CREATE OR REPLACE FUNCTION "berth_project_created"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "project_usage" ("project_id") SELECT "id" FROM "new_projects" ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER "project_created" AFTER INSERT ON "project"
    REFERENCING NEW TABLE AS "new_projects" FOR EACH STATEMENT EXECUTE FUNCTION "berth_project_created"();

-- Adds (p_sign 1) or removes (-1) links to digests in projects, then moves the usage by the sizes of the
-- digests that became new to a project or left it. Only growth is checked against the quota.
CREATE OR REPLACE FUNCTION "berth_project_links"(p_sign INTEGER, p_projects INTEGER[], p_digests TEXT[], p_sizes BIGINT[], p_counts INTEGER[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    change RECORD;
    usage RECORD;
BEGIN
    FOR change IN
        WITH items AS (SELECT * FROM unnest(p_projects, p_digests, p_sizes, p_counts) AS i("project_id", "digest", "size", "n")),
        added AS (
            INSERT INTO "project_blob" ("project_id", "digest", "size", "links")
            SELECT "project_id", "digest", "size", "n" FROM items WHERE p_sign > 0
            ON CONFLICT ("project_id", "digest") DO UPDATE SET "links" = "project_blob"."links" + EXCLUDED."links"
            RETURNING "project_id", "size", (xmax = 0) AS "moved"
        ),
        lowered AS (
            UPDATE "project_blob" pb SET "links" = pb."links" - i."n" FROM items i
             WHERE p_sign < 0 AND pb."project_id" = i."project_id" AND pb."digest" = i."digest"
            RETURNING pb."project_id", pb."size", pb."links" <= 0 AS "moved"
        )
        SELECT "project_id", sum("size") AS "bytes" FROM (
            SELECT "project_id", "size" FROM added WHERE "moved"
            UNION ALL SELECT "project_id", "size" FROM lowered WHERE "moved") m
         GROUP BY "project_id" ORDER BY "project_id"
    LOOP
        IF p_sign < 0 THEN
            INSERT INTO "project_usage_delta" ("project_id", "size_bytes") VALUES (change."project_id", -change."bytes");
            CONTINUE;
        END IF;
        UPDATE "project_usage" u SET "used_bytes" = u."used_bytes" + change."bytes"
         WHERE u."project_id" = change."project_id" AND u."quota_bytes" IS NOT NULL
           AND u."used_bytes" + COALESCE((SELECT sum(d."size_bytes") FROM "project_usage_delta" d WHERE d."project_id" = u."project_id"), 0)
               + change."bytes" <= u."quota_bytes";
        IF FOUND THEN CONTINUE; END IF;
        SELECT u."quota_bytes", u."used_bytes" + COALESCE((SELECT sum(d."size_bytes") FROM "project_usage_delta" d WHERE d."project_id" = u."project_id"), 0) AS "used", p."name"
          INTO usage FROM "project_usage" u JOIN "project" p ON p."id" = u."project_id" WHERE u."project_id" = change."project_id";
        IF usage IS NULL OR usage."quota_bytes" IS NULL THEN
            INSERT INTO "project_usage_delta" ("project_id", "size_bytes") VALUES (change."project_id", change."bytes");
        ELSE
            RAISE EXCEPTION 'project % quota exceeded', usage."name" USING ERRCODE = 'BR002',
                DETAIL = json_build_object('project', usage."name", 'quota', usage."quota_bytes", 'used', usage."used", 'needed', change."bytes")::text;
        END IF;
    END LOOP;
    -- Apart from the UPDATE above: one statement must not change a row twice.
    IF p_sign < 0 THEN
        DELETE FROM "project_blob" pb USING unnest(p_projects, p_digests) AS i("project_id", "digest")
         WHERE pb."project_id" = i."project_id" AND pb."digest" = i."digest" AND pb."links" <= 0;
    END IF;
END $$;

-- Links of a repository being deleted (alone or with its project) are counted off before it goes: the
-- cascaded deletes of its links and manifests run after its row is gone, and their triggers below, joining
-- the repository for its project, then find nothing.
CREATE OR REPLACE FUNCTION "berth_repository_deleting"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    items RECORD;
BEGIN
    SELECT array_agg(OLD."project_id") AS p, array_agg(x."digest") AS d, array_agg(x."size") AS s, array_agg(x."n") AS n INTO items
      FROM (SELECT "digest", max("size") AS "size", count(*)::int AS "n" FROM (
              SELECT rb."digest", b."size" FROM "repository_blob" rb JOIN "blob" b ON b."digest" = rb."digest" WHERE rb."repository_id" = OLD."id"
              UNION ALL SELECT m."digest", m."size"::bigint FROM "manifest" m WHERE m."repository_id" = OLD."id") l
             GROUP BY "digest") x;
    IF items.d IS NOT NULL THEN
        PERFORM "berth_project_links"(-1, items.p, items.d, items.s, items.n);
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER "repository_deleting" BEFORE DELETE ON "repository"
    FOR EACH ROW EXECUTE FUNCTION "berth_repository_deleting"();

CREATE OR REPLACE FUNCTION "berth_project_links_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    items RECORD;
BEGIN
    IF TG_TABLE_NAME = 'repository_blob' THEN
        -- A link deleted with its blob (cascade) still finds its size in project_blob: the size is taken
        -- from there when lowering, so only inserts need the blob row.
        IF TG_OP = 'INSERT' THEN
            SELECT array_agg(x."project_id") AS p, array_agg(x."digest") AS d, array_agg(x."size") AS s, array_agg(x."n") AS n INTO items
              FROM (SELECT r."project_id", l."digest", max(b."size") AS "size", count(*)::int AS "n"
                      FROM "new_rows" l JOIN "repository" r ON r."id" = l."repository_id" JOIN "blob" b ON b."digest" = l."digest"
                     GROUP BY r."project_id", l."digest" ORDER BY r."project_id", l."digest") x;
        ELSE
            SELECT array_agg(x."project_id") AS p, array_agg(x."digest") AS d, array_agg(0::bigint) AS s, array_agg(x."n") AS n INTO items
              FROM (SELECT r."project_id", l."digest", count(*)::int AS "n"
                      FROM "old_rows" l JOIN "repository" r ON r."id" = l."repository_id"
                     GROUP BY r."project_id", l."digest" ORDER BY r."project_id", l."digest") x;
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(x."project_id") AS p, array_agg(x."digest") AS d, array_agg(x."size") AS s, array_agg(x."n") AS n INTO items
          FROM (SELECT r."project_id", l."digest", max(l."size")::bigint AS "size", count(*)::int AS "n"
                  FROM "new_rows" l JOIN "repository" r ON r."id" = l."repository_id"
                 GROUP BY r."project_id", l."digest" ORDER BY r."project_id", l."digest") x;
    ELSE
        SELECT array_agg(x."project_id") AS p, array_agg(x."digest") AS d, array_agg(0::bigint) AS s, array_agg(x."n") AS n INTO items
          FROM (SELECT r."project_id", l."digest", count(*)::int AS "n"
                  FROM "old_rows" l JOIN "repository" r ON r."id" = l."repository_id"
                 GROUP BY r."project_id", l."digest" ORDER BY r."project_id", l."digest") x;
    END IF;
    IF items.d IS NOT NULL THEN
        PERFORM "berth_project_links"(CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END, items.p, items.d, items.s, items.n);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER "repository_blob_project_added" AFTER INSERT ON "repository_blob"
    REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_project_links_changed"();
CREATE TRIGGER "repository_blob_project_removed" AFTER DELETE ON "repository_blob"
    REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_project_links_changed"();
CREATE TRIGGER "manifest_project_added" AFTER INSERT ON "manifest"
    REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_project_links_changed"();
CREATE TRIGGER "manifest_project_removed" AFTER DELETE ON "manifest"
    REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_project_links_changed"();

-- The fold of the repository figures folds project usage too (readers and the periodic fold call it).
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
    WITH d AS (DELETE FROM "project_usage_delta" RETURNING *),
         s AS (SELECT "project_id", sum("size_bytes") AS "bytes" FROM d GROUP BY "project_id")
    UPDATE "project_usage" u SET "used_bytes" = GREATEST(u."used_bytes" + s."bytes", 0)
      FROM s WHERE u."project_id" = s."project_id";
END $$;

-- Backfill: every project's row and its current links.
INSERT INTO "project_usage" ("project_id") SELECT "id" FROM "project" ON CONFLICT DO NOTHING;
INSERT INTO "project_blob" ("project_id", "digest", "size", "links")
SELECT "project_id", "digest", max("size"), count(*)::int FROM (
    SELECT r."project_id", rb."digest", b."size" FROM "repository_blob" rb JOIN "repository" r ON r."id" = rb."repository_id" JOIN "blob" b ON b."digest" = rb."digest"
    UNION ALL SELECT r."project_id", m."digest", m."size"::bigint FROM "manifest" m JOIN "repository" r ON r."id" = m."repository_id") l
 GROUP BY "project_id", "digest";
UPDATE "project_usage" u SET "used_bytes" = s."bytes"
  FROM (SELECT "project_id", sum("size") AS "bytes" FROM "project_blob" GROUP BY "project_id") s WHERE u."project_id" = s."project_id";
