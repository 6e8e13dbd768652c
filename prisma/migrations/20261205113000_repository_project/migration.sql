-- Every repository belongs to its project by key (issue 14). Before this, a repository's project was the
-- project row named like its first path segment, if any: deleting a project left its repositories behind,
-- listed for everyone, and whoever re-created the name (by pushing to it) inherited them.
--
-- Now repository.project_id references project.id, is never null, and cascades: deleting a project deletes
-- its repositories, and with them their manifests, tags, blob links and upload sessions (the bytes are the
-- garbage collector's). A project created again under the same name is a new row with a new id and starts
-- empty.

-- A project nobody asked for: created because a repository was written under its name without one (by the
-- backfill below, a mirror caching an upstream's image, a push with authentication off, or a push that
-- raced the project's deletion). It is private and has no members; it does not make its name local for a
-- mirror's default upstream (src/proxy/mirror-routing.ts); an administrator creating the project adopts it.
ALTER TABLE "project" ADD COLUMN "implicit" BOOLEAN NOT NULL DEFAULT false;

-- The project of a repository name, created (private, implicit, without owner or members) when missing. Until its
-- transaction ends it holds the project row FOR KEY SHARE, so a project deletion (which takes the row FOR
-- UPDATE, src/metadata/account-store.ts) either waits and then counts and deletes the new repository with
-- the rest, or finished first, and then this finds no row and creates a new, empty project.
CREATE OR REPLACE FUNCTION "berth_project_id"(p_project TEXT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    found_id INTEGER;
BEGIN
    FOR attempt IN 1..10 LOOP
        SELECT p."id" INTO found_id FROM "project" p WHERE p."name" = p_project FOR KEY SHARE;
        IF found_id IS NOT NULL THEN RETURN found_id; END IF;
        INSERT INTO "project" ("name", "implicit") VALUES (p_project, true) ON CONFLICT ("name") DO NOTHING RETURNING "id" INTO found_id;
        IF found_id IS NOT NULL THEN RETURN found_id; END IF;
        -- Created by a concurrent transaction meanwhile (and maybe deleted again): look again.
    END LOOP;
    RAISE EXCEPTION 'project % neither found nor created after 10 attempts', p_project;
END $$;

-- Every way a repository row is written (the registry's statements, berth_put_manifest, Prisma, a human
-- with psql) gets its project from its name here, so none can leave the key out or point it elsewhere.
CREATE OR REPLACE FUNCTION "berth_repository_project"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected INTEGER;
BEGIN
    expected := "berth_project_id"(split_part(NEW."name", '/', 1));
    IF NEW."project_id" IS NOT NULL AND NEW."project_id" <> expected THEN
        RAISE EXCEPTION 'repository % belongs to project %, not to project id %',
            NEW."name", split_part(NEW."name", '/', 1), NEW."project_id" USING ERRCODE = '23514';
    END IF;
    NEW."project_id" := expected;
    RETURN NEW;
END $$;

-- Backfill: an implicit project for every repository whose first segment has none (private, no owner:
-- only administrators see them until one grants access), then the key.
INSERT INTO "project" ("name", "implicit")
SELECT DISTINCT split_part(r."name", '/', 1), true FROM "repository" r
ON CONFLICT ("name") DO NOTHING;

ALTER TABLE "repository" ADD COLUMN "project_id" INTEGER;
UPDATE "repository" r SET "project_id" = p."id" FROM "project" p WHERE p."name" = split_part(r."name", '/', 1);
ALTER TABLE "repository" ALTER COLUMN "project_id" SET NOT NULL;
ALTER TABLE "repository" ADD CONSTRAINT "repository_project_id_fkey"
    FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "repository_project_id_idx" ON "repository"("project_id");

CREATE TRIGGER "repository_project" BEFORE INSERT OR UPDATE OF "name", "project_id" ON "repository"
    FOR EACH ROW EXECUTE FUNCTION "berth_repository_project"();

-- Cached mirror tags name their repository by id without a foreign key; those of a deleted repository go too.
DELETE FROM "mirror_tag" mt WHERE NOT EXISTS (SELECT 1 FROM "repository" r WHERE r."id" = mt."repository_id");
CREATE OR REPLACE FUNCTION "berth_repository_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM "mirror_tag" mt USING "old_rows" o WHERE mt."repository_id" = o."id";
    RETURN NULL;
END $$;
CREATE TRIGGER "repository_deleted" AFTER DELETE ON "repository"
    REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_repository_deleted"();
