-- +goose Up
-- A deletion code is written before it is mailed, and becomes usable only
-- once the mail has gone (delivered_at); wrong guesses are counted, and
-- after a few the code stops working (failed_attempts).
ALTER TABLE organization_deletion_codes ADD COLUMN delivered_at DATETIME;
ALTER TABLE organization_deletion_codes ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
-- Codes issued before were mailed inside the transaction that wrote them.
UPDATE organization_deletion_codes SET delivered_at = created_at;

-- Pending invitations can be cancelled.
ALTER TABLE invitations ADD COLUMN cancelled_at DATETIME;
ALTER TABLE invitations ADD COLUMN cancelled_by TEXT;
-- Keyset pagination of the invitation list: (created_at desc, id desc).
CREATE INDEX invitations_page_idx ON invitations (organization_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX invitations_page_idx;
ALTER TABLE invitations DROP COLUMN cancelled_by;
ALTER TABLE invitations DROP COLUMN cancelled_at;
ALTER TABLE organization_deletion_codes DROP COLUMN failed_attempts;
ALTER TABLE organization_deletion_codes DROP COLUMN delivered_at;
