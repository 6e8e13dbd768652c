-- Pull counting (see 20261124100000_web) checked every GET-by-digest event for an index listing that digest
-- with a join the planner was free to start from the repository's manifests. Without column statistics
-- (the embedded PGlite has no autovacuum, so it never analyzes) it did: every event scanned all manifests of
-- its repository, and a batch of 200 by-digest pulls took ~0.8 s with 3,000 manifests in the repository,
-- on the embedded server's own event loop. Now the events are grouped first (one check per repository and
-- digest in the batch) and the check starts from the index on manifest_reference.digest: the OFFSET 0 keeps
-- that lookup a subquery of its own, planned alone, whatever the statistics say.
CREATE OR REPLACE FUNCTION "berth_audit_pulls"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "repository" r SET "pull_count" = r."pull_count" + s."n",
                              "last_pulled_at" = GREATEST(COALESCE(r."last_pulled_at", s."at"), s."at")
    FROM (SELECT p."repository", sum(p."n") AS "n", max(p."at") AS "at"
            FROM (SELECT e."repository", e."reference", count(*) AS "n", max(e."at") AS "at"
                    FROM "new_events" e
                   WHERE e."action" = 'pull' AND e."success" AND e."repository" IS NOT NULL
                   GROUP BY e."repository", e."reference") p
           WHERE NOT (p."reference" LIKE '%:%' AND EXISTS (
                 SELECT 1
                   FROM (SELECT mr."manifest_id" FROM "manifest_reference" mr
                          WHERE mr."digest" = p."reference" AND mr."kind" = 'manifest' OFFSET 0) lists
                   JOIN "manifest" ix ON ix."id" = lists."manifest_id"
                   JOIN "repository" r2 ON r2."id" = ix."repository_id"
                  WHERE r2."name" = p."repository"))
           GROUP BY p."repository") s
    WHERE r."name" = s."repository";

    UPDATE "tag" t SET "last_pulled_at" = s."at"
    FROM "repository" r,
         (SELECT e."repository", e."reference", max(e."at") AS "at" FROM "new_events" e
           WHERE e."action" = 'pull' AND e."success" AND e."reference" NOT LIKE '%:%'
           GROUP BY e."repository", e."reference") s
    WHERE r."name" = s."repository" AND t."repository_id" = r."id" AND t."name" = s."reference";

    UPDATE "manifest" m SET "last_pulled_at" = s."at"
    FROM "repository" r,
         (SELECT e."repository", e."reference", max(e."at") AS "at" FROM "new_events" e
           WHERE e."action" = 'pull' AND e."success" AND e."reference" LIKE '%:%'
           GROUP BY e."repository", e."reference") s
    WHERE r."name" = s."repository" AND m."repository_id" = r."id" AND m."digest" = s."reference";
    RETURN NULL;
END $$;
