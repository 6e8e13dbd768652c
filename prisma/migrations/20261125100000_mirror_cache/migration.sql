-- Mirror cache eviction: a collection counts the mirrored images it evicted.

-- AlterTable
ALTER TABLE "gc_run" ADD COLUMN "images_evicted" INTEGER NOT NULL DEFAULT 0;
