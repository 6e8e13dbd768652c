-- What each garbage collection deleted, one row per item, written in the same transaction as the deletion
-- (so the log is exact even when the collector is killed). Only the newest runs' logs are kept
-- (src/metadata/gc-runs.ts, LOG_RUNS_KEPT), which bounds the table.
CREATE TABLE "gc_run_log" (
    "id" BIGSERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "repository" TEXT,
    "digest" TEXT NOT NULL,
    "tag" TEXT,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "gc_run_log_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "gc_run_log_run_id_id_idx" ON "gc_run_log"("run_id", "id");

-- AddForeignKey
ALTER TABLE "gc_run_log" ADD CONSTRAINT "gc_run_log_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "gc_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Settings an administrator changes at run time (GC schedule, grace, ...): one JSON value per key. A key
-- with no row takes its value from the configuration file / environment.
CREATE TABLE "setting" (
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_by" TEXT,
    CONSTRAINT "setting_pkey" PRIMARY KEY ("key")
);

-- Every change, from whatever replica or tool, is announced so each replica re-reads at once.
CREATE OR REPLACE FUNCTION "berth_setting_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_setting_change', COALESCE(NEW."key", OLD."key"));
    RETURN NULL;
END $$;

CREATE TRIGGER "setting_change_notify" AFTER INSERT OR UPDATE OR DELETE ON "setting"
    FOR EACH ROW EXECUTE FUNCTION "berth_setting_changed"();
