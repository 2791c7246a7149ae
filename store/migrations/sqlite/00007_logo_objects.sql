-- +goose Up
-- Every logo object in storage, so that none outlives its use. A row is in
-- use while it is its organization's logo; otherwise delete_after says when
-- the cleanup job removes the object (an upload never used, a logo
-- replaced or cleared after a grace period for pages and caches that still
-- show it, a purged organization's at once) and then the row. The
-- organization is not a foreign key: the row must outlive a purged
-- organization until its object is gone. A row without an organization is
-- a reservation, made before its object is written and taken over when
-- the upload is recorded: an object whose write answered late or never,
-- or whose process stopped before recording it, is still found and
-- deleted. claimed_at marks a row the cleanup has taken, which can no
-- longer be put in use.
CREATE TABLE logo_objects (
    id              TEXT PRIMARY KEY,
    organization_id TEXT,
    in_use          BOOLEAN NOT NULL DEFAULT FALSE,
    delete_after    DATETIME,
    claimed_at      DATETIME,
    created_at      DATETIME NOT NULL,
    CHECK (in_use = (delete_after IS NULL))
);
CREATE INDEX logo_objects_org_idx ON logo_objects (organization_id, created_at);
CREATE INDEX logo_objects_due_idx ON logo_objects (delete_after) WHERE delete_after IS NOT NULL;

-- The logos organizations show now are in use.
INSERT INTO logo_objects (id, organization_id, in_use, created_at)
SELECT substr(logo, -36), id, TRUE, strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now') FROM organizations
WHERE logo_content_type IS NULL AND logo GLOB '*/logos/[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
ON CONFLICT (id) DO NOTHING;

-- +goose Down
DROP TABLE logo_objects;
