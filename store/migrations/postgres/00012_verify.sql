-- +goose Up
-- The verify flow's columns on a session (issue 23), all NULL until the
-- flow writes them. The mobile write token is kept only as a keyed hash
-- (no seed, unlike upstream): a database reader cannot rebuild it.
ALTER TABLE verification_sessions ADD COLUMN mobile_write_token_hash TEXT;
ALTER TABLE verification_sessions ADD COLUMN mobile_write_token_issued_at timestamptz;
ALTER TABLE verification_sessions ADD COLUMN mobile_write_token_expires_at timestamptz;
ALTER TABLE verification_sessions ADD COLUMN mobile_write_token_consumed_at timestamptz;
ALTER TABLE verification_sessions ADD COLUMN mobile_hello_device_id_hash TEXT;
ALTER TABLE verification_sessions ADD COLUMN mobile_hello_app_version TEXT;
ALTER TABLE verification_sessions ADD COLUMN mobile_attest_key_id TEXT;
ALTER TABLE verification_sessions ADD COLUMN current_phase TEXT;
ALTER TABLE verification_sessions ADD COLUMN phase_updated_at timestamptz;
ALTER TABLE verification_sessions ADD COLUMN claimed_by_connection_id TEXT;
ALTER TABLE verification_sessions ADD COLUMN claimed_at timestamptz;
-- Retention's "referenced by no session" check of attestation keys.
CREATE INDEX verification_sessions_attest_key_idx ON verification_sessions (mobile_attest_key_id)
    WHERE mobile_attest_key_id IS NOT NULL;

-- One row per consent the person gave on the verify web app (every call
-- of POST /v1/verify/session/{id}/consent adds one).
CREATE TABLE verification_consents (
    id                          TEXT PRIMARY KEY,
    organization_id             uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    verification_session_id     TEXT NOT NULL REFERENCES verification_sessions (id) ON DELETE CASCADE,
    consented_at                timestamptz NOT NULL,
    consent_ui_version          INTEGER NOT NULL,
    terms_version               TEXT NOT NULL,
    privacy_notice_version      TEXT NOT NULL,
    -- Lowercase hex SHA-256 of the resolved share fields' canonical JSON.
    share_contract_hash         TEXT NOT NULL,
    -- JSON arrays of claim keys, sorted.
    requested_claim_keys        jsonb NOT NULL,
    selected_claim_keys         jsonb NOT NULL,
    required_claim_keys         jsonb NOT NULL,
    biometric_consent           boolean NOT NULL,
    document_processing_consent boolean NOT NULL,
    privacy_notice_acknowledged boolean NOT NULL,
    share_claims_consent        boolean NOT NULL,
    terms_acknowledged          boolean NOT NULL,
    rp_name                     TEXT NOT NULL,
    controller_name             TEXT NOT NULL
);
CREATE INDEX verification_consents_session_idx ON verification_consents (verification_session_id);

-- App Attest keys registered by POST /v1/verify/attest/register, by
-- Apple's key id (standard base64, as the app sends it).
CREATE TABLE mobile_attest_keys (
    key_id               TEXT PRIMARY KEY,
    provider             TEXT NOT NULL CHECK (provider IN ('ios_app_attest', 'android_play_integrity')),
    -- Standard base64 of the COSE EC2 key and of Apple's receipt.
    public_key_cose      TEXT NOT NULL,
    counter              BIGINT NOT NULL DEFAULT 0,
    receipt              TEXT,
    receipt_refreshed_at timestamptz,
    risk_metric          BIGINT,
    created_at           timestamptz NOT NULL,
    last_used_at         timestamptz
);
CREATE INDEX mobile_attest_keys_last_used_idx ON mobile_attest_keys (last_used_at);

-- Registration challenges, each usable once: a conditional DELETE
-- consumes one, so two replicas cannot both accept it. Only a keyed hash
-- of the challenge is kept.
CREATE TABLE attest_challenges (
    challenge_hash TEXT PRIMARY KEY,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX attest_challenges_expiry_idx ON attest_challenges (expires_at);

-- +goose Down
DROP TABLE attest_challenges;
DROP TABLE mobile_attest_keys;
DROP TABLE verification_consents;
DROP INDEX verification_sessions_attest_key_idx;
ALTER TABLE verification_sessions DROP COLUMN claimed_at;
ALTER TABLE verification_sessions DROP COLUMN claimed_by_connection_id;
ALTER TABLE verification_sessions DROP COLUMN phase_updated_at;
ALTER TABLE verification_sessions DROP COLUMN current_phase;
ALTER TABLE verification_sessions DROP COLUMN mobile_attest_key_id;
ALTER TABLE verification_sessions DROP COLUMN mobile_hello_app_version;
ALTER TABLE verification_sessions DROP COLUMN mobile_hello_device_id_hash;
ALTER TABLE verification_sessions DROP COLUMN mobile_write_token_consumed_at;
ALTER TABLE verification_sessions DROP COLUMN mobile_write_token_expires_at;
ALTER TABLE verification_sessions DROP COLUMN mobile_write_token_issued_at;
ALTER TABLE verification_sessions DROP COLUMN mobile_write_token_hash;
