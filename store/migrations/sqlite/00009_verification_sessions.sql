-- +goose Up
-- Organization metadata (public and compliance profile) as upstream's auth
-- library stores it: one JSON object, written whole by the organization
-- update, read by the onboarding gate of POST /v1/sessions.
ALTER TABLE organizations ADD COLUMN metadata TEXT;

-- Verification sessions a relying party creates with an API key. Every move
-- out of created/in_progress is a conditional update on status, so racing
-- cancel, expiry and completion write exactly one terminal event.
CREATE TABLE verification_sessions (
    id                   TEXT PRIMARY KEY,
    organization_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    status               TEXT NOT NULL DEFAULT 'created'
        CHECK (status IN ('created', 'in_progress', 'succeeded', 'failed', 'expired', 'cancelled')),
    contract_version     INTEGER NOT NULL DEFAULT 1,
    -- The normalised share contract, a JSON object.
    share_fields         TEXT NOT NULL,
    redirect_url         TEXT,
    -- A JSON array of webhook endpoint ids, or NULL: fan out to every
    -- enabled subscribed endpoint.
    webhook_endpoint_ids TEXT,
    -- Keyed hash of the cancel token; the token itself is shown once.
    cancel_token_hash    TEXT NOT NULL,
    cancel_token_consumed_at DATETIME,
    is_age_only          BOOLEAN NOT NULL DEFAULT 0,
    failure_code         TEXT CHECK (failure_code IN (
        'document_authenticity_failed', 'document_active_authentication_failed',
        'document_chip_authentication_failed', 'document_anti_cloning_attestation_failed',
        'document_data_invalid', 'liveness_failed', 'selfie_face_mismatch')),
    nfc_tries_used       INTEGER NOT NULL DEFAULT 0,
    liveness_tries_used  INTEGER NOT NULL DEFAULT 0,
    risk_score           REAL NOT NULL DEFAULT 0,
    selected_share_field_keys TEXT,
    expires_at           DATETIME NOT NULL,
    completed_at         DATETIME,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);
-- The list: keyset pages newest first, with and without a status filter.
CREATE INDEX verification_sessions_page_idx ON verification_sessions (organization_id, created_at DESC, id DESC);
CREATE INDEX verification_sessions_status_page_idx ON verification_sessions (organization_id, status, created_at DESC, id DESC);
-- The expiry job and the analytics' overdue count: active rows by deadline.
CREATE INDEX verification_sessions_active_expiry_idx ON verification_sessions (expires_at)
    WHERE status IN ('created', 'in_progress');
CREATE INDEX verification_sessions_org_active_idx ON verification_sessions (organization_id, expires_at)
    WHERE status IN ('created', 'in_progress');
-- Retention: terminal rows by the time they ended.
CREATE INDEX verification_sessions_terminal_idx ON verification_sessions (completed_at)
    WHERE status IN ('succeeded', 'failed', 'expired', 'cancelled');

-- Events: one row per terminal transition, written in its transaction.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    trigger_id      TEXT NOT NULL,
    trigger_type    TEXT NOT NULL,
    -- The event's data as its payload carries it, without personal data.
    data            TEXT NOT NULL,
    created_at      DATETIME NOT NULL
);
CREATE INDEX events_page_idx ON events (organization_id, created_at DESC, id DESC);
CREATE INDEX events_trigger_idx ON events (trigger_id);
CREATE INDEX events_created_idx ON events (created_at);

-- Per organization and UTC day of creation: sessions created and their
-- terminal outcomes, kept in the same transactions as the rows they count
-- (and decremented when retention deletes a row), so the analytics overview
-- reads 14 rows and a few overdue ones instead of every session.
CREATE TABLE session_day_counts (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day             TEXT NOT NULL,
    created         INTEGER NOT NULL DEFAULT 0,
    succeeded       INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    expired         INTEGER NOT NULL DEFAULT 0,
    cancelled       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day)
);

-- +goose Down
DROP TABLE session_day_counts;
DROP TABLE events;
DROP TABLE verification_sessions;
ALTER TABLE organizations DROP COLUMN metadata;
