-- CreateTable
CREATE TABLE "mirror_tag" (
    "repository_id" INTEGER NOT NULL,
    "tag" TEXT NOT NULL,
    "upstream" TEXT NOT NULL,
    "checked_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "mirror_tag_pkey" PRIMARY KEY ("repository_id","tag")
);

-- CreateTable
CREATE TABLE "mirror_fetch" (
    "digest" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "mirror_fetch_pkey" PRIMARY KEY ("digest")
);
