-- +goose Up
-- API keys: only a keyed hash of each key is kept (HMAC-SHA256, hex).
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    key_hash        TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT 1,
    request_count   INTEGER NOT NULL DEFAULT 0,
    permissions     TEXT NOT NULL DEFAULT '[]',
    metadata        TEXT NOT NULL DEFAULT '{}',
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
-- Keyset pagination of an organization's keys: id ascending.
CREATE INDEX api_keys_org_idx ON api_keys (organization_id, id);

-- Business details, the owner identity check and the verification terms.
ALTER TABLE organizations ADD COLUMN business_type TEXT CHECK (business_type IN ('sole', 'business'));
ALTER TABLE organizations ADD COLUMN business_name TEXT;
ALTER TABLE organizations ADD COLUMN business_jurisdiction TEXT;
ALTER TABLE organizations ADD COLUMN business_registration_number TEXT;
ALTER TABLE organizations ADD COLUMN owner_id_checked_at DATETIME;
ALTER TABLE organizations ADD COLUMN verification_terms_accepted_at DATETIME;
ALTER TABLE organizations ADD COLUMN verification_terms_accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL;

-- Organizations created before logos moved to object storage hold the
-- image itself (base64) with its content type; the move (Store.Migrate)
-- finds them here and leaves logo_content_type NULL.
CREATE INDEX organizations_legacy_logo_idx ON organizations (id) WHERE logo_content_type IS NOT NULL;

-- One row per organization per version of the Kayle ID Integration Terms.
CREATE TABLE organization_rp_terms_acceptances (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    terms_version   TEXT NOT NULL,
    terms_hash      TEXT NOT NULL,
    jurisdiction    TEXT NOT NULL,
    accepted_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    accepted_at     DATETIME NOT NULL,
    created_at      DATETIME NOT NULL
);
CREATE UNIQUE INDEX organization_rp_terms_current_key
    ON organization_rp_terms_acceptances (organization_id, terms_version, terms_hash, jurisdiction);

-- Secrets the server generates once and every replica shares (the API-key
-- HMAC key when none is configured).
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE organization_rp_terms_acceptances;
DROP INDEX organizations_legacy_logo_idx;
ALTER TABLE organizations DROP COLUMN verification_terms_accepted_by;
ALTER TABLE organizations DROP COLUMN verification_terms_accepted_at;
ALTER TABLE organizations DROP COLUMN owner_id_checked_at;
ALTER TABLE organizations DROP COLUMN business_registration_number;
ALTER TABLE organizations DROP COLUMN business_jurisdiction;
ALTER TABLE organizations DROP COLUMN business_name;
ALTER TABLE organizations DROP COLUMN business_type;
DROP TABLE api_keys;
