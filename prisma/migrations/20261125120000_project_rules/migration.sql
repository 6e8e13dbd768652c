-- CreateTable
CREATE TABLE "project_rule" (
    "id" SERIAL NOT NULL,
    "project_id" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "project_rule_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "project_rule_project_id_idx" ON "project_rule"("project_id");

-- AddForeignKey
ALTER TABLE "project_rule" ADD CONSTRAINT "project_rule_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
