-- +goose Up
-- A deletion code is written before it is mailed, and becomes usable only
-- once the mail has gone (delivered_at); wrong guesses are counted, and
-- after a few the code stops working (failed_attempts).
ALTER TABLE organization_deletion_codes ADD COLUMN delivered_at DATETIME;
ALTER TABLE organization_deletion_codes ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
-- Codes issued before were mailed inside the transaction that wrote them.
UPDATE organization_deletion_codes SET delivered_at = created_at;

-- +goose Down
ALTER TABLE organization_deletion_codes DROP COLUMN failed_attempts;
ALTER TABLE organization_deletion_codes DROP COLUMN delivered_at;
