-- Credentials name their account by id (serial ids are never handed out twice, so a new account with a
-- deleted one's name gets none of its tokens or sessions) and carry the account's credential generation.
-- The database moves the generation on, whoever changes the account (admin API, CLI, raw SQL): a password
-- or secret change, disabling, or any loss of rights (admin flag removed, a project role removed or lowered,
-- robot permissions or expiry changed). Refresh tokens, browser sessions and access tokens of an older
-- generation are refused (src/auth/tokens.ts, src/web/sessions.ts).

-- AlterTable
ALTER TABLE "user_account" ADD COLUMN "credential_generation" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "robot" ADD COLUMN "credential_generation" INTEGER NOT NULL DEFAULT 1;

-- A session names its user by id and generation. Sessions of accounts that no longer exist go.
ALTER TABLE "web_session" ADD COLUMN "user_id" INTEGER, ADD COLUMN "generation" INTEGER NOT NULL DEFAULT 1;
UPDATE "web_session" s SET "user_id" = u."id" FROM "user_account" u WHERE u."username" = s."username";
DELETE FROM "web_session" WHERE "user_id" IS NULL;
ALTER TABLE "web_session" ALTER COLUMN "user_id" SET NOT NULL, ALTER COLUMN "generation" DROP DEFAULT, DROP COLUMN "username";

-- CreateIndex
CREATE INDEX "web_session_user_id_idx" ON "web_session"("user_id");

-- AddForeignKey
ALTER TABLE "web_session" ADD CONSTRAINT "web_session_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "user_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE OR REPLACE FUNCTION "berth_user_credentials_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."password_hash" IS DISTINCT FROM OLD."password_hash"
       OR (NEW."disabled" AND NOT OLD."disabled")
       OR (OLD."is_admin" AND NOT NEW."is_admin") THEN
        NEW."credential_generation" := GREATEST(NEW."credential_generation", OLD."credential_generation" + 1);
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION "berth_robot_credentials_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."secret_hash" IS DISTINCT FROM OLD."secret_hash"
       OR (NEW."disabled" AND NOT OLD."disabled")
       OR NEW."permissions" IS DISTINCT FROM OLD."permissions"
       OR NEW."expires_at" IS DISTINCT FROM OLD."expires_at" THEN
        NEW."credential_generation" := GREATEST(NEW."credential_generation", OLD."credential_generation" + 1);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER "user_account_credentials" BEFORE UPDATE ON "user_account"
    FOR EACH ROW EXECUTE FUNCTION "berth_user_credentials_changed"();
CREATE TRIGGER "robot_credentials" BEFORE UPDATE ON "robot"
    FOR EACH ROW EXECUTE FUNCTION "berth_robot_credentials_changed"();

-- A project role removed or lowered is a loss of rights. Memberships that go with their project (a project
-- deleted) are not: the project is gone for everyone, and its members keep their other credentials.
CREATE OR REPLACE FUNCTION "berth_role_removed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "user_account" SET "credential_generation" = "credential_generation" + 1
     WHERE "id" IN (SELECT o."user_id" FROM "old_rows" o WHERE EXISTS (SELECT 1 FROM "project" p WHERE p."id" = o."project_id"));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "berth_role_rank"(role TEXT) RETURNS INTEGER LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE role WHEN 'guest' THEN 0 WHEN 'developer' THEN 1 WHEN 'maintainer' THEN 2 WHEN 'admin' THEN 3 ELSE 0 END
$$;

CREATE OR REPLACE FUNCTION "berth_role_lowered"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "user_account" SET "credential_generation" = "credential_generation" + 1 WHERE "id" = NEW."user_id";
    RETURN NULL;
END $$;

CREATE TRIGGER "project_member_removed" AFTER DELETE ON "project_member"
    REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "berth_role_removed"();
CREATE TRIGGER "project_member_lowered" AFTER UPDATE OF "role" ON "project_member"
    FOR EACH ROW WHEN ("berth_role_rank"(NEW."role") < "berth_role_rank"(OLD."role")) EXECUTE FUNCTION "berth_role_lowered"();

-- Every Berth process caches accounts' credential states for access-token checks
-- (src/metadata/credential-states.ts) and drops an account's entry when told, here on channel
-- berth_account_change with payload "user:<id>" or "robot:<id>".
CREATE OR REPLACE FUNCTION "berth_notify_account_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_account_change', TG_ARGV[0] || ':' || OLD."id");
    RETURN NULL;
END $$;

CREATE TRIGGER "user_account_changed" AFTER UPDATE OR DELETE ON "user_account"
    FOR EACH ROW EXECUTE FUNCTION "berth_notify_account_change"('user');
CREATE TRIGGER "robot_changed" AFTER UPDATE OR DELETE ON "robot"
    FOR EACH ROW EXECUTE FUNCTION "berth_notify_account_change"('robot');
