-- +goose Up
-- API keys: only a keyed hash of each key is kept (HMAC-SHA256, hex).
CREATE TABLE api_keys (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    key_hash        text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    request_count   integer NOT NULL DEFAULT 0,
    permissions     jsonb NOT NULL DEFAULT '[]'::jsonb,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
-- Keyset pagination of an organization's keys: id ascending.
CREATE INDEX api_keys_org_idx ON api_keys (organization_id, id);

-- Business details, the owner identity check and the verification terms.
ALTER TABLE organizations
    ADD COLUMN business_type                  text CHECK (business_type IN ('sole', 'business')),
    ADD COLUMN business_name                  text,
    ADD COLUMN business_jurisdiction          text,
    ADD COLUMN business_registration_number   text,
    ADD COLUMN owner_id_checked_at            timestamptz,
    ADD COLUMN verification_terms_accepted_at timestamptz,
    ADD COLUMN verification_terms_accepted_by uuid REFERENCES users (id) ON DELETE SET NULL;

-- Organizations created before logos moved to object storage hold the
-- image itself (base64) with its content type; the move (Store.Migrate)
-- finds them here and leaves logo_content_type NULL.
CREATE INDEX organizations_legacy_logo_idx ON organizations (id) WHERE logo_content_type IS NOT NULL;

-- One row per organization per version of the Kayle ID Integration Terms.
CREATE TABLE organization_rp_terms_acceptances (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    terms_version   text NOT NULL,
    terms_hash      text NOT NULL,
    jurisdiction    text NOT NULL,
    accepted_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    accepted_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX organization_rp_terms_current_key
    ON organization_rp_terms_acceptances (organization_id, terms_version, terms_hash, jurisdiction);

-- Secrets the server generates once and every replica shares (the API-key
-- HMAC key when none is configured).
CREATE TABLE server_secrets (
    name       text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE organization_rp_terms_acceptances;
DROP INDEX organizations_legacy_logo_idx;
ALTER TABLE organizations
    DROP COLUMN business_type,
    DROP COLUMN business_name,
    DROP COLUMN business_jurisdiction,
    DROP COLUMN business_registration_number,
    DROP COLUMN owner_id_checked_at,
    DROP COLUMN verification_terms_accepted_at,
    DROP COLUMN verification_terms_accepted_by;
DROP TABLE api_keys;
