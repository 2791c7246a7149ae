-- +goose Up
-- Deleting an API key clears it from its organization's audit rows (no
-- foreign key does: the column is text). Without this index the statement
-- walks the organization's whole log, on SQLite under the write lock; with
-- it, only the rows the key wrote. Partial: most rows have no key.
CREATE INDEX audit_logs_api_key_idx ON audit_logs (organization_id, actor_api_key_id) WHERE actor_api_key_id IS NOT NULL;

-- +goose Down
DROP INDEX audit_logs_api_key_idx;
