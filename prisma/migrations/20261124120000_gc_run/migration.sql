-- CreateTable
CREATE TABLE "gc_run" (
    "id" SERIAL NOT NULL,
    "trigger" TEXT NOT NULL,
    "dry_run" BOOLEAN NOT NULL,
    "status" TEXT NOT NULL,
    "phase" TEXT,
    "options" JSONB NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "tags_deleted" INTEGER NOT NULL DEFAULT 0,
    "manifests_deleted" INTEGER NOT NULL DEFAULT 0,
    "links_deleted" INTEGER NOT NULL DEFAULT 0,
    "blobs_deleted" INTEGER NOT NULL DEFAULT 0,
    "uploads_deleted" INTEGER NOT NULL DEFAULT 0,
    "bytes_freed" BIGINT NOT NULL DEFAULT 0,
    "errors" JSONB,
    "report" JSONB,

    CONSTRAINT "gc_run_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "gc_run_started_at_idx" ON "gc_run"("started_at");
