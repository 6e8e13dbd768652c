-- Project robots (issue 15): a robot may belong to one project, whose admins manage it and whose
-- repositories are all it may be given rights on. Its name is "robot$<project>+<name>" (Harbor's form; "+"
-- is in neither account nor project names, so it cannot collide with a system robot). System robots keep a
-- null project. A project's robots go with it; the robot table's triggers (20261205140000) announce each
-- deletion on berth_account_change, so no replica keeps honouring their tokens.

-- AlterTable
ALTER TABLE "robot" ADD COLUMN "project_id" INTEGER;

-- CreateIndex
CREATE INDEX "robot_project_id_idx" ON "robot"("project_id");

-- AddForeignKey
ALTER TABLE "robot" ADD CONSTRAINT "robot_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
