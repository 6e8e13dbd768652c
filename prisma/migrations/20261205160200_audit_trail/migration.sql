-- A complete audit trail (issue 15, item 6): every event names the project it touched and its outcome, so
-- a project's admins can be shown their project's events only, and refusals can be told from failures.
--   project  the repository's first path segment, or the project an account/rule/member change names
--   outcome  'success', 'refused' (401/403, a quota or immutability refusal, a wrong password) or 'failed'
-- Rows written before keep what can be derived: the project from their repository or detail, and a
-- failure as 'refused' (until now only wrong passwords) or 'failed' (a failed GC run).

ALTER TABLE "audit_event" ADD COLUMN "project" TEXT;
ALTER TABLE "audit_event" ADD COLUMN "outcome" TEXT NOT NULL DEFAULT 'success';

UPDATE "audit_event" SET "project" = COALESCE(
    split_part("repository", '/', 1),
    "detail"->>'project',
    CASE WHEN "reference" LIKE 'project %' THEN substr("reference", 9) END
  )
  WHERE "repository" IS NOT NULL OR "detail" ? 'project' OR "reference" LIKE 'project %';
UPDATE "audit_event" SET "outcome" = CASE WHEN "action" = 'gc.run' THEN 'failed' ELSE 'refused' END WHERE NOT "success";

-- The project audit page pages newest first through one project's events.
CREATE INDEX "audit_event_project_id_idx" ON "audit_event"("project", "id");
CREATE INDEX "audit_event_outcome_id_idx" ON "audit_event"("outcome", "id");
