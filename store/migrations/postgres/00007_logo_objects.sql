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
    id              uuid PRIMARY KEY,
    organization_id uuid,
    in_use          boolean NOT NULL DEFAULT false,
    delete_after    timestamptz,
    claimed_at      timestamptz,
    created_at      timestamptz NOT NULL,
    CHECK (in_use = (delete_after IS NULL))
);
CREATE INDEX logo_objects_org_idx ON logo_objects (organization_id, created_at);
CREATE INDEX logo_objects_due_idx ON logo_objects (delete_after) WHERE delete_after IS NOT NULL;

-- The logos organizations show now are in use.
INSERT INTO logo_objects (id, organization_id, in_use, created_at)
SELECT CAST(right(logo, 36) AS uuid), id, true, now() FROM organizations
WHERE logo_content_type IS NULL
  AND logo ~ '/logos/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
ON CONFLICT (id) DO NOTHING;

-- +goose Down
DROP TABLE logo_objects;
