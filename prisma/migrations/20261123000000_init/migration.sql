-- CreateTable
CREATE TABLE "repository" (
    "id" SERIAL NOT NULL,
    "name" TEXT COLLATE "C" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "repository_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "blob" (
    "digest" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_touched_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "blob_pkey" PRIMARY KEY ("digest")
);

-- CreateTable
CREATE TABLE "repository_blob" (
    "repository_id" INTEGER NOT NULL,
    "digest" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "repository_blob_pkey" PRIMARY KEY ("repository_id","digest")
);

-- CreateTable
CREATE TABLE "manifest" (
    "id" SERIAL NOT NULL,
    "repository_id" INTEGER NOT NULL,
    "digest" TEXT NOT NULL,
    "media_type" TEXT NOT NULL,
    "content" BYTEA NOT NULL,
    "size" INTEGER NOT NULL,
    "subject_digest" TEXT,
    "artifact_type" TEXT,
    "annotations" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "manifest_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "manifest_reference" (
    "manifest_id" INTEGER NOT NULL,
    "digest" TEXT NOT NULL,
    "kind" TEXT NOT NULL,

    CONSTRAINT "manifest_reference_pkey" PRIMARY KEY ("manifest_id","digest")
);

-- CreateTable
CREATE TABLE "tag" (
    "repository_id" INTEGER NOT NULL,
    "name" TEXT COLLATE "C" NOT NULL,
    "manifest_id" INTEGER NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tag_pkey" PRIMARY KEY ("repository_id","name")
);

-- CreateTable
CREATE TABLE "upload" (
    "id" UUID NOT NULL,
    "repository_id" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL DEFAULT 0,
    "driver_state" JSONB,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "upload_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "repository_name_key" ON "repository"("name");

-- CreateIndex
CREATE INDEX "repository_blob_digest_idx" ON "repository_blob"("digest");

-- CreateIndex
CREATE INDEX "manifest_repository_id_subject_digest_idx" ON "manifest"("repository_id", "subject_digest");

-- CreateIndex
CREATE UNIQUE INDEX "manifest_repository_id_digest_key" ON "manifest"("repository_id", "digest");

-- CreateIndex
CREATE INDEX "manifest_reference_digest_idx" ON "manifest_reference"("digest");

-- CreateIndex
CREATE INDEX "tag_manifest_id_idx" ON "tag"("manifest_id");

-- CreateIndex
CREATE INDEX "upload_updated_at_idx" ON "upload"("updated_at");

-- AddForeignKey
ALTER TABLE "repository_blob" ADD CONSTRAINT "repository_blob_repository_id_fkey" FOREIGN KEY ("repository_id") REFERENCES "repository"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "repository_blob" ADD CONSTRAINT "repository_blob_digest_fkey" FOREIGN KEY ("digest") REFERENCES "blob"("digest") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "manifest" ADD CONSTRAINT "manifest_repository_id_fkey" FOREIGN KEY ("repository_id") REFERENCES "repository"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "manifest_reference" ADD CONSTRAINT "manifest_reference_manifest_id_fkey" FOREIGN KEY ("manifest_id") REFERENCES "manifest"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tag" ADD CONSTRAINT "tag_repository_id_fkey" FOREIGN KEY ("repository_id") REFERENCES "repository"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tag" ADD CONSTRAINT "tag_manifest_id_fkey" FOREIGN KEY ("manifest_id") REFERENCES "manifest"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "upload" ADD CONSTRAINT "upload_repository_id_fkey" FOREIGN KEY ("repository_id") REFERENCES "repository"("id") ON DELETE CASCADE ON UPDATE CASCADE;
