-- +goose Up
-- Which chip artefacts passed the document checks (a digest over their
-- hashes), so a later connection cannot have the liveness check and the
-- claims use a document other than the verified one.
ALTER TABLE verification_sessions ADD COLUMN nfc_verified_digest TEXT;

-- +goose Down
ALTER TABLE verification_sessions DROP COLUMN nfc_verified_digest;
