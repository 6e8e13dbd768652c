-- The account triggers of 20261205140000_credential_generation ran on every update of an account row and
-- announced each one on berth_account_change: touching updated_at, a robot's description, or any column a
-- later feature adds made every replica drop its cached credential state. They now run only when a column
-- that credentials depend on changes; deletions are always announced.

-- What moves the credential generation on (the functions decide how; they are unchanged).
DROP TRIGGER "user_account_credentials" ON "user_account";
CREATE TRIGGER "user_account_credentials" BEFORE UPDATE ON "user_account"
    FOR EACH ROW
    WHEN (NEW."password_hash" IS DISTINCT FROM OLD."password_hash"
          OR NEW."disabled" IS DISTINCT FROM OLD."disabled"
          OR NEW."is_admin" IS DISTINCT FROM OLD."is_admin")
    EXECUTE FUNCTION "berth_user_credentials_changed"();

DROP TRIGGER "robot_credentials" ON "robot";
CREATE TRIGGER "robot_credentials" BEFORE UPDATE ON "robot"
    FOR EACH ROW
    WHEN (NEW."secret_hash" IS DISTINCT FROM OLD."secret_hash"
          OR NEW."disabled" IS DISTINCT FROM OLD."disabled"
          OR NEW."permissions" IS DISTINCT FROM OLD."permissions"
          OR NEW."expires_at" IS DISTINCT FROM OLD."expires_at")
    EXECUTE FUNCTION "berth_robot_credentials_changed"();

-- What the caches hold (src/metadata/credential-states.ts: generation, disabled, a robot's expiry) and what
-- decides it. A lost or lowered project role moves the generation on, so it is announced through it.
-- Postgres lets a trigger's WHEN name NEW only for updates, hence one trigger for updates, one for deletes.
DROP TRIGGER "user_account_changed" ON "user_account";
CREATE TRIGGER "user_account_changed" AFTER UPDATE ON "user_account"
    FOR EACH ROW
    WHEN (NEW."credential_generation" IS DISTINCT FROM OLD."credential_generation"
          OR NEW."password_hash" IS DISTINCT FROM OLD."password_hash"
          OR NEW."disabled" IS DISTINCT FROM OLD."disabled"
          OR NEW."is_admin" IS DISTINCT FROM OLD."is_admin")
    EXECUTE FUNCTION "berth_notify_account_change"('user');
CREATE TRIGGER "user_account_deleted" AFTER DELETE ON "user_account"
    FOR EACH ROW EXECUTE FUNCTION "berth_notify_account_change"('user');

DROP TRIGGER "robot_changed" ON "robot";
CREATE TRIGGER "robot_changed" AFTER UPDATE ON "robot"
    FOR EACH ROW
    WHEN (NEW."credential_generation" IS DISTINCT FROM OLD."credential_generation"
          OR NEW."secret_hash" IS DISTINCT FROM OLD."secret_hash"
          OR NEW."disabled" IS DISTINCT FROM OLD."disabled"
          OR NEW."permissions" IS DISTINCT FROM OLD."permissions"
          OR NEW."expires_at" IS DISTINCT FROM OLD."expires_at")
    EXECUTE FUNCTION "berth_notify_account_change"('robot');
CREATE TRIGGER "robot_deleted" AFTER DELETE ON "robot"
    FOR EACH ROW EXECUTE FUNCTION "berth_notify_account_change"('robot');
