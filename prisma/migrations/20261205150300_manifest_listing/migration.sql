-- The web UI's artifact list pages a repository's manifests newest first: this index serves that order
-- (and the untagged filter) without sorting every manifest of a large repository.
CREATE INDEX "manifest_repository_id_created_at_id_idx" ON "manifest" ("repository_id", "created_at", "id");
