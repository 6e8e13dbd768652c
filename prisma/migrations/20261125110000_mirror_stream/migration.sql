-- A mirror fetch shares its growing download with the other replicas: the upload it writes into, how many
-- bytes of it are durable (and the driver state that reads them), the size the upstream announced, and
-- whether the download failed verification (its followers then stop instead of taking over).
ALTER TABLE "mirror_fetch" ADD COLUMN "upload_id" UUID,
ADD COLUMN "written" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN "size" BIGINT,
ADD COLUMN "writer_state" JSONB,
ADD COLUMN "corrupt" BOOLEAN NOT NULL DEFAULT false;
