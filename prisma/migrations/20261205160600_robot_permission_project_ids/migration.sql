-- Robot permissions named their project only, and outlived it: after a project was deleted, whoever
-- created a project of the same name (by pushing to it) gave the old robots access to it (issue 15).
-- From now on a permission carries the id of the project it was granted on (robot.permissions[].projectId),
-- and deleting a project removes the permissions naming it (src/metadata/account-store.ts).
--
-- Existing permissions naming an existing project are tied to it here. One naming no project is left as
-- it is (it may have been granted ahead of the project's creation, or be the leftover of a deletion):
-- it keeps matching by name until the robot's permissions are edited.
UPDATE "robot" r SET "permissions" = (
    SELECT jsonb_agg(CASE WHEN p."id" IS NULL THEN e ELSE e || jsonb_build_object('projectId', p."id") END ORDER BY i)
    FROM jsonb_array_elements(r."permissions") WITH ORDINALITY AS x(e, i)
    LEFT JOIN "project" p ON p."name" = e->>'project'
)
WHERE jsonb_typeof(r."permissions") = 'array' AND jsonb_array_length(r."permissions") > 0;
